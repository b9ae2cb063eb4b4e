// One message: every recipient's status with the reason in plain words (and what the
// recipient's mail administrator could change), the evidence of how its server was reached
// (MX host, TLS version and cipher, authentication method, certificate, DNSSEC), and each
// attempt on a timeline. What a compliance officer shows an auditor.

import { Badge, Page } from '../components/ui.js';
import {
  DNSSEC,
  decodeSubject,
  fingerprint,
  METHODS,
  statusInfo,
  VERDICTS,
  when,
} from '../lib/format.js';
import { html } from '../lib/html.js';
import { href } from '../lib/router.js';
import { StatusCounts } from './messages.js';

export class MessagePage extends Page {
  get id() {
    return this.props.route.parts[1];
  }

  title() {
    return this.state.data ? decodeSubject(this.state.data.message.subject) : 'Message';
  }

  async load() {
    const [message, reasons] = await Promise.all([
      this.props.api.get(`/message/${encodeURIComponent(this.id)}`),
      this.props.api.get('/reasons'),
    ]);
    return { message, reasons: reasons.reasons };
  }

  render() {
    // The title is the subject: known only once loaded, so the heading is rendered after it.
    return this.state.data || this.state.error
      ? super.render()
      : html`<section class="page"><p role="status">Loading…</p></section>`;
  }

  body({ message, reasons }) {
    const statuses = {};
    for (const r of message.recipients) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    return html`
      <p><a href=${href('/messages')}>← All messages</a></p>
      <dl class="facts">
        <div><dt>From (envelope)</dt><dd>${message.sender}</dd></div>
        <div><dt>Accepted</dt><dd>${when(message.created_at, true)}</dd></div>
        <div><dt>Complete</dt><dd>${message.completed_at ? when(message.completed_at, true) : 'Not yet: some recipients are still being tried'}</dd></div>
        <div><dt>Message-ID</dt><dd><code class="wrap">${message.message_id}</code></dd></div>
        <div><dt>Size</dt><dd>${Math.ceil(message.size / 1024)} KB</dd></div>
        <div><dt>Recipients</dt><dd><${StatusCounts} statuses=${statuses} /></dd></div>
      </dl>
      <h2>Recipients</h2>
      ${message.recipients.map((r) => html`<${Recipient} recipient=${r} reasons=${reasons} />`)}`;
  }
}

function Recipient({ recipient: r, reasons }) {
  const status = statusInfo(r.status);
  const reason = r.reason ? reasons[r.reason] : undefined;
  const delivered = [...r.history].reverse().find((a) => a.verdict === 'deliver');
  const shown = delivered ?? r.history.at(-1);
  return html`<article class="panel recipient" data-address=${r.address} data-status=${r.status}>
    <header class="recipient-head">
      <h3>${r.address}</h3>
      <${Badge} tone=${status.tone}>${status.label}<//>
    </header>
    ${
      r.status === 'delivered' &&
      delivered &&
      html`<p class="outcome">Delivered ${when(delivered.ended_at, true)} to <strong>${delivered.evidence.mx_host}</strong>${' '}over ${delivered.evidence.tls_version ?? 'TLS'}, authenticated by <strong>${METHODS[delivered.evidence.authentication] ?? delivered.evidence.authentication ?? 'an unrecorded method'}</strong>.</p>`
    }
    ${
      r.reason &&
      r.status !== 'delivered' &&
      html`<div class="reason">
      <p class="reason-text"><strong>Why:</strong> ${reason?.explanation ?? r.reason}</p>
      ${reason?.fix && html`<p><strong>What the recipient’s mail administrator can do:</strong> ${reason.fix}</p>`}
      ${r.detail && html`<p class="hint">Details: ${r.detail}</p>`}
      <p class="hint">Reason code <code>${r.reason}</code></p>
    </div>`
    }
    ${r.status === 'deferred' && r.next_attempt_at && html`<p class="hint">Next attempt ${when(r.next_attempt_at)}.</p>`}
    ${shown && html`<${Evidence} evidence=${shown.evidence} />`}
    ${
      r.history.length > 0 &&
      html`<details open=${r.history.length <= 3}>
      <summary>Attempts (${r.history.length})</summary>
      <ol class="timeline">
        ${r.history.map((a) => {
          const verdict = VERDICTS[a.verdict] ?? { label: a.verdict, tone: 'neutral' };
          return html`<li data-verdict=${a.verdict}>
            <p><time datetime=${a.started_at}>${when(a.started_at, true)}</time>${' '}<${Badge} tone=${verdict.tone}>${verdict.label}<//>
              ${a.reason && html` <code>${a.reason}</code>`}
              ${a.evidence.mx_host && html` via ${a.evidence.mx_host}`}</p>
            ${a.reply && html`<p class="hint">Server reply: <code class="wrap">${a.reply}</code></p>`}
            ${
              a.evidence.hosts_tried.length > 0 &&
              html`<p class="hint">Hosts tried: ${a.evidence.hosts_tried.map((h, i) => html`${i > 0 ? '; ' : ''}<code>${h}</code>`)}</p>`
            }
          </li>`;
        })}
      </ol>
    </details>`
    }
  </article>`;
}

function Evidence({ evidence: e }) {
  const rows = [
    ['MX host', e.mx_host && `${e.mx_host}${e.ip ? ` (${e.ip})` : ''}`],
    ['Authentication', e.authentication && (METHODS[e.authentication] ?? e.authentication)],
    ['TLS version', e.tls_version],
    ['Cipher', e.cipher],
    ['Key exchange', e.key_exchange],
    [
      'Certificate fingerprint (SHA-256)',
      e.certificate_sha256 &&
        html`<code class="fingerprint">${fingerprint(e.certificate_sha256)}</code>`,
    ],
    ['Certificate issuer', e.certificate_issuer],
    ['DNSSEC of the MX records', e.dnssec_mx && (DNSSEC[e.dnssec_mx] ?? e.dnssec_mx)],
    ['MTA-STS policy', e.mta_sts],
  ].filter(([, v]) => v);
  if (rows.length === 0) return null;
  return html`<dl class="evidence">
    ${rows.map(([k, v]) => html`<div data-fact=${k}><dt>${k}</dt><dd>${v}</dd></div>`)}
  </dl>`;
}
