// Webhooks: the HTTPS endpoint a domain's events are posted to (URL and event types), its
// signing secret (shown once, on creation and rotation), and the recent deliveries with
// their results, so an owner can see why an endpoint receives nothing.

import { ConfirmButton } from '../components/confirm.js';
import {
  Badge,
  CopyButton,
  DomainPicker,
  ErrorNotice,
  Field,
  Notice,
  Page,
} from '../components/ui.js';
import { statusInfo, when } from '../lib/format.js';
import { html } from '../lib/html.js';
import { go } from '../lib/router.js';

const EVENT_TYPES = [
  'delivered',
  'refused_insecure',
  'bounced',
  'deferred',
  'expired',
  'failed',
  'suppressed',
  'domain_state_changed',
];
const DELIVERY_STATES = {
  pending: { label: 'Pending', tone: 'warn' },
  delivered: { label: 'Delivered', tone: 'good' },
  failed: { label: 'Failed', tone: 'bad' },
  dropped: { label: 'Dropped', tone: 'neutral' },
};

const eventLabel = (type) =>
  type === 'domain_state_changed' ? 'Domain state changed' : statusInfo(type).label;

export class WebhooksPage extends Page {
  state = {
    ...this.state,
    url: '',
    events: EVENT_TYPES,
    secret: undefined,
    busy: false,
    actionError: undefined,
    notice: undefined,
  };

  title() {
    return 'Webhooks';
  }

  async load() {
    const { accounts } = await this.props.api.get('/accounts');
    const domain = this.props.route.query.get('domain') || accounts[0]?.domain;
    if (domain === undefined) return { accounts, domain };
    const [webhook, deliveries] = await Promise.all([
      this.props.api.get('/account/webhook', { domain }).catch((error) => {
        if (error.name === 'webhook_not_found') return undefined;
        throw error;
      }),
      this.props.api.get('/account/webhook/deliveries', { domain, limit: 50 }),
    ]);
    if (webhook) this.setState({ url: webhook.url, events: webhook.events });
    return { accounts, domain, webhook, deliveries: deliveries.deliveries };
  }

  async act(work) {
    this.setState({ busy: true, actionError: undefined, notice: undefined });
    try {
      await work();
      this.setState({ busy: false });
      await this.reload();
    } catch (error) {
      this.setState({ busy: false, actionError: error });
    }
  }

  save = (event) => {
    event.preventDefault();
    const { domain } = this.state.data;
    this.act(async () => {
      const saved = await this.props.api.request('PUT', '/account/webhook', {
        query: { domain },
        body: { url: this.state.url.trim(), events: this.state.events },
      });
      this.setState({ secret: saved.secret, notice: 'Webhook saved.' });
    });
  };

  rotate = () =>
    this.act(async () => {
      const rotated = await this.props.api.request('POST', '/account/webhook/secret', {
        query: { domain: this.state.data.domain },
      });
      this.setState({
        secret: rotated.secret,
        notice: `New secret made. Until ${when(rotated.previous_secret_valid_until)} deliveries are signed with the old one too.`,
      });
    });

  remove = () =>
    this.act(async () => {
      await this.props.api.request('DELETE', '/account/webhook', {
        query: { domain: this.state.data.domain },
      });
      this.setState({
        url: '',
        events: EVENT_TYPES,
        secret: undefined,
        notice: 'Webhook removed.',
      });
    });

  toggle(type, on) {
    const events = on ? [...this.state.events, type] : this.state.events.filter((e) => e !== type);
    this.setState({ events: EVENT_TYPES.filter((e) => events.includes(e)) });
  }

  body({ accounts, domain, webhook, deliveries }) {
    if (domain === undefined) return html`<p class="empty">Add a domain first.</p>`;
    const { url, events, secret, busy, actionError, notice } = this.state;
    const state =
      webhook &&
      (webhook.state === 'active'
        ? { label: 'Active', tone: 'good' }
        : { label: 'Disabled', tone: 'bad' });
    return html`
      <div class="toolbar">
        <${DomainPicker} accounts=${accounts} value=${domain} onChange=${(d) => go('/webhooks', { domain: d })} />
      </div>
      ${notice && html`<${Notice} tone="success">${notice}<//>`}
      ${
        secret &&
        html`<${Notice} tone="warn">
        <p><strong>The signing secret, shown only now.</strong> Store it where your endpoint checks signatures.</p>
        <p><code class="wrap secret">${secret}</code> <${CopyButton} text=${secret} describe="the signing secret" /></p>
      <//>`
      }
      ${actionError && !actionError.field && html`<${ErrorNotice} error=${actionError} />`}
      ${
        webhook &&
        html`<dl class="facts">
        <div><dt>State</dt><dd><${Badge} tone=${state.tone}>${state.label}<//></dd></div>
        <div><dt>Last successful delivery</dt><dd>${webhook.last_success_at ? when(webhook.last_success_at) : 'None yet'}</dd></div>
        ${webhook.failing_since && html`<div><dt>Failing since</dt><dd>${when(webhook.failing_since)}</dd></div>`}
        ${webhook.last_error && html`<div><dt>Last error</dt><dd>${webhook.last_error}</dd></div>`}
      </dl>`
      }
      <section class="panel" aria-labelledby="endpoint">
        <h2 id="endpoint">${webhook ? 'Endpoint' : 'Add a webhook'}</h2>
        <form onSubmit=${this.save} novalidate>
          <${Field} id="webhook-url" label="HTTPS URL" name="url" error=${actionError}
            hint="Events are POSTed as JSON, signed in the SecureMail-Signature header.">
            ${(
              a,
            ) => html`<input ...${a} type="url" value=${url} placeholder="https://example.nl/securemail-events"
              onInput=${(e) => this.setState({ url: e.currentTarget.value })} />`}
          <//>
          <fieldset class="field">
            <legend>Events</legend>
            <div class="checks">
              ${EVENT_TYPES.map(
                (
                  t,
                ) => html`<label class="inline"><input type="checkbox" checked=${events.includes(t)}
                  onChange=${(e) => this.toggle(t, e.currentTarget.checked)} /> ${eventLabel(t)}</label>`,
              )}
            </div>
          </fieldset>
          <div class="actions">
            <button type="submit" disabled=${busy || url.trim() === '' || events.length === 0}>${webhook ? 'Save' : 'Add webhook'}</button>
            ${
              webhook &&
              html`<${ConfirmButton} label="Rotate secret" tone="secondary" title="Rotate the signing secret?" onConfirm=${this.rotate}>
              <p>A new secret is made and shown once. For a while deliveries carry signatures with both secrets, so your endpoint can switch over.</p>
            <//>
            <${ConfirmButton} label="Remove webhook" action="Remove" title="Remove the webhook?" onConfirm=${this.remove}>
              <p>Events waiting to be delivered are dropped.</p>
            <//>`
            }
          </div>
        </form>
      </section>
      <section class="panel" aria-labelledby="deliveries">
        <h2 id="deliveries">Recent deliveries</h2>
        ${
          deliveries.length === 0
            ? html`<p class="empty">No events yet.</p>`
            : html`<div class="table-scroll"><table class="data">
              <caption class="offscreen">Recent webhook deliveries, newest first</caption>
              <thead><tr><th scope="col">Event</th><th scope="col">About</th><th scope="col">Created</th>
                <th scope="col">Result</th><th scope="col" class="num">Tries</th><th scope="col">Last error</th></tr></thead>
              <tbody>
                ${deliveries.map((d) => {
                  const s = DELIVERY_STATES[d.state] ?? { label: d.state };
                  return html`<tr data-id=${d.id}>
                    <th scope="row">${eventLabel(d.type)}</th>
                    <td>${d.data.recipient ?? d.data.address ?? d.data.domain ?? '—'}</td>
                    <td>${when(d.created_at, true)}</td>
                    <td><${Badge} tone=${s.tone}>${s.label}<//>${d.next_attempt_at && html`<p class="hint">next try ${when(d.next_attempt_at)}</p>`}</td>
                    <td class="num">${d.attempts}</td>
                    <td>${d.last_error ?? '—'}</td>
                  </tr>`;
                })}
              </tbody>
            </table></div>`
        }
      </section>`;
  }
}
