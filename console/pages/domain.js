// One domain: the DNS records to publish (each with a copy button, its status and the hint
// when it is wrong, and all of them as a zone-file snippet), "Verify now", the policy level
// and notification address, DKIM key rotation, and deleting the domain.

import { ConfirmButton } from '../components/confirm.js';
import { Badge, CopyButton, ErrorNotice, Field, Notice, Page } from '../components/ui.js';
import { DOMAIN_STATES, POLICY_LEVELS, RECORD_STATES, when } from '../lib/format.js';
import { html } from '../lib/html.js';
import { go, href } from '../lib/router.js';

const ZONE_TTL = 3600;

export class DomainPage extends Page {
  state = {
    ...this.state,
    notice: undefined,
    actionError: undefined,
    busy: undefined,
    settings: undefined,
  };

  get domain() {
    return this.props.route.parts[1];
  }

  title() {
    return this.domain;
  }

  async load() {
    const account = await this.props.api.get('/account', { domain: this.domain });
    this.setState({
      settings: {
        policy_level: account.policy_level,
        notification_email: account.notification_email,
      },
    });
    return account;
  }

  intro() {
    if (this.props.route.query.get('added') !== '1' || this.state.notice) return null;
    return html`<${Notice} tone="success">Domain added. Publish the records below at your DNS
      provider, then press “Verify now”.<//>`;
  }

  async act(name, work) {
    this.setState({ busy: name, actionError: undefined, notice: undefined });
    try {
      const result = await work();
      this.setState({ busy: undefined, ...(result ?? {}) });
    } catch (error) {
      this.setState({ busy: undefined, actionError: error });
    }
  }

  verify = () =>
    this.act('verify', async () => {
      const account = await this.props.api.request('POST', '/account/verify', {
        query: { domain: this.domain },
      });
      const missing = records(account).filter((r) => r.required && r.record.status !== 'success');
      const notice =
        account.domain.state === 'valid'
          ? {
              tone: 'success',
              text: 'All required records were found: the domain is valid and can send.',
            }
          : {
              tone: 'warn',
              text: `${missing.length} required record${missing.length === 1 ? ' is' : 's are'} not found yet. DNS changes can take a while to appear; the hints below say what was found instead.`,
            };
      return { data: account, notice };
    });

  saveSettings = (event) => {
    event.preventDefault();
    this.act('settings', async () => {
      const account = await this.props.api.request('PATCH', '/account', {
        query: { domain: this.domain },
        body: this.state.settings,
      });
      return { data: account, notice: { tone: 'success', text: 'Settings saved.' } };
    });
  };

  rotate = () =>
    this.act('rotate', async () => {
      const account = await this.props.api.request('POST', '/account/dkim/rotate', {
        query: { domain: this.domain },
      });
      return {
        data: account,
        notice: {
          tone: 'info',
          text: 'New DKIM keys are made. Publish the new DKIM records below; mail is signed with the current keys until the new ones are found.',
        },
      };
    });

  remove = async () => {
    await this.props.api.request('DELETE', '/account', { query: { domain: this.domain } });
    go('/domains');
  };

  body(account) {
    const { notice, actionError, busy, settings } = this.state;
    const state = DOMAIN_STATES[account.domain.state] ?? { label: account.domain.state };
    const list = records(account);
    return html`
      <div class="status-line">
        <span>State: <${Badge} tone=${state.tone}>${state.label}<//></span>
        <span class="hint">Last checked ${when(account.verification.last_checked_at)}${
          account.verification.next_check_at
            ? html`; next automatic check ${when(account.verification.next_check_at)}`
            : ''
        }.</span>
      </div>
      ${notice && html`<${Notice} tone=${notice.tone}>${notice.text}<//>`}
      <${ErrorNotice} error=${actionError} />
      <section class="panel" aria-labelledby="records">
        <div class="panel-head">
          <h2 id="records">DNS records to publish</h2>
          <button type="button" onClick=${this.verify} disabled=${busy === 'verify'}>
            ${busy === 'verify' ? 'Checking DNS…' : 'Verify now'}
          </button>
        </div>
        <p class="hint">Enter these at your DNS provider. Most panels add the domain to the name
          themselves: then enter only the part before <code>.${account.domain.name}</code>.</p>
        <div class="table-scroll">
          <table class="data records">
            <caption class="offscreen">DNS records for ${account.domain.name}</caption>
            <thead><tr><th scope="col">Record</th><th scope="col">Name</th><th scope="col">Type</th>
              <th scope="col">Value</th><th scope="col">Status</th></tr></thead>
            <tbody>
              ${list.map(({ label, required, record }) => {
                const status = RECORD_STATES[record.status] ?? { label: record.status };
                return html`<tr data-record=${label} data-status=${record.status}>
                  <th scope="row">${label}${required ? '' : html` <span class="hint">(suggested)</span>`}</th>
                  <td><code class="wrap">${record.hostname}</code>
                    <${CopyButton} text=${record.hostname} describe=${`the name of ${label}`} /></td>
                  <td>${record.type}</td>
                  <td>${record.priority !== undefined && html`<span class="hint">Priority ${record.priority}</span> `}
                    <code class="wrap value" tabindex=${record.value.length > 200 ? '0' : undefined}>${record.value}</code>
                    <${CopyButton} text=${record.value} describe=${`the value of ${label}`} /></td>
                  <td><${Badge} tone=${status.tone}>${status.label}<//>
                    ${record.detail && html`<p class=${`record-detail record-detail-${record.status}`}>${record.detail}</p>`}</td>
                </tr>`;
              })}
            </tbody>
          </table>
        </div>
        <details>
          <summary>All records as a zone-file snippet</summary>
          <pre class="zone"><code>${zoneFile(account, list)}</code></pre>
          <${CopyButton} text=${zoneFile(account, list)} label="Copy the zone-file snippet" />
        </details>
      </section>
      <section class="panel" aria-labelledby="settings">
        <h2 id="settings">Settings</h2>
        <form class="form-grid" onSubmit=${this.saveSettings}>
          <${Field} id="policy-level" label="Policy level" name="policy_level" error=${actionError}
            hint=${POLICY_LEVELS.find((p) => p.id === settings.policy_level)?.help}>
            ${(a) => html`<select ...${a} value=${settings.policy_level}
              onChange=${(e) => this.setState({ settings: { ...settings, policy_level: e.currentTarget.value } })}>
              ${POLICY_LEVELS.map((p) => html`<option value=${p.id}>${p.label}</option>`)}
            </select>`}
          <//>
          <${Field} id="notification-email" label="Notification e-mail" name="notification_email" error=${actionError}>
            ${(a) => html`<input ...${a} type="email" value=${settings.notification_email}
              onInput=${(e) => this.setState({ settings: { ...settings, notification_email: e.currentTarget.value } })} />`}
          <//>
          <div class="actions"><button type="submit" disabled=${busy === 'settings'}>Save settings</button></div>
        </form>
      </section>
      <section class="panel" aria-labelledby="dkim">
        <h2 id="dkim">DKIM keys</h2>
        <p>Mail from ${account.domain.name} is signed with an RSA and an Ed25519 key. Rotating makes
          new keys under new names; the current keys keep signing until the new records are found,
          then the old records can be removed.</p>
        <${ConfirmButton} label="Rotate DKIM keys" tone="secondary" title="Rotate the DKIM keys?"
          onConfirm=${this.rotate}>
          <p>New keys are made and listed as records to publish. Nothing changes for your mail until
            they are found in DNS.</p>
        <//>
      </section>
      <section class="panel panel-danger" aria-labelledby="danger">
        <h2 id="danger">Delete the domain</h2>
        <p>Sending from ${account.domain.name} stops at once. Its keys, suppressions and webhook are
          deleted, and so are its messages with their delivery evidence:${' '}<a href=${href('/messages', { domain: account.domain.name })}>export the evidence</a>${' '}first if an auditor may ask for it.</p>
        <${ConfirmButton} label="Delete domain" action="Delete" title=${`Delete ${account.domain.name}?`}
          typeToConfirm=${account.domain.name} onConfirm=${this.remove}>
          <p>This cannot be undone: the domain's messages and their evidence are deleted with it. To send
            from this domain again you would add it again and publish new records.</p>
        <//>
      </section>
      <p class="links"><a href=${href('/messages', { domain: account.domain.name })}>Messages from ${account.domain.name}</a>
        <a href=${href('/suppressions', { domain: account.domain.name })}>Suppressions</a>
        <a href=${href('/webhooks', { domain: account.domain.name })}>Webhook</a></p>`;
  }
}

/** The account's records in publishing order, each with a plain label. */
function records(account) {
  const sending = account.sending_dns_records;
  return [
    { label: 'Ownership proof', required: true, record: sending.ses },
    ...sending.dkim.map((record) => ({
      label: /k=ed25519/.test(record.value) ? 'DKIM key (Ed25519)' : 'DKIM key (RSA)',
      required: true,
      record,
    })),
    ...account.receiving_dns_records.mx.map((record, i, all) => ({
      label: `Bounce MX ${i + 1} of ${all.length}`,
      required: true,
      record,
    })),
    { label: 'SPF of the bounce address', required: true, record: sending.spf },
    { label: 'DMARC policy', required: false, record: sending.dmarc },
  ];
}

/** The records in zone-file syntax (RFC 1035), TXT values split into 255-octet strings. */
function zoneFile(account, list) {
  const lines = [`; DNS records for ${account.domain.name} (SecureMail)`];
  for (const { label, record } of list) {
    const name = `${record.hostname}.`;
    let data = record.value;
    if (record.type === 'TXT') {
      const chunks = data.match(/.{1,255}/g) ?? [''];
      data = chunks.map((c) => `"${c.replace(/(["\\])/g, '\\$1')}"`).join(' ');
    } else if (record.type === 'MX') {
      data = `${record.priority ?? 10} ${record.value.replace(/\.?$/, '.')}`;
    }
    lines.push(`; ${label}`);
    lines.push(`${name} ${ZONE_TTL} IN ${record.type} ${data}`);
  }
  return `${lines.join('\n')}\n`;
}
