// Check a recipient: the pre-flight check (POST /security/check). For each recipient domain
// the verdict (would deliver, refuse or defer), the reason in plain words, and per mail
// server how it was (or could not be) authenticated. Nothing is sent.

import { Badge, ErrorNotice, Field, PageTitle } from '../components/ui.js';
import { addressList, fingerprint, METHODS, POLICY_LEVELS, when } from '../lib/format.js';
import { Component, html } from '../lib/html.js';

const VERDICT = {
  deliver: { label: 'Can be reached securely', tone: 'good' },
  refuse: { label: 'Would be refused', tone: 'bad' },
  defer: { label: 'Would be deferred (temporary problem)', tone: 'warn' },
};

export class CheckPage extends Component {
  state = { input: '', level: 'verified', busy: false, error: undefined, results: undefined };

  check = async (event) => {
    event.preventDefault();
    this.setState({ busy: true, error: undefined });
    try {
      const { results } = await this.props.api.request('POST', '/security/check', {
        body: { recipients: addressList(this.state.input), policy_level: this.state.level },
      });
      this.setState({ busy: false, results });
    } catch (error) {
      this.setState({ busy: false, error, results: undefined });
    }
  };

  render(_props, { input, level, busy, error, results }) {
    return html`<section class="page">
      <${PageTitle} title="Check a recipient" />
      <p>Before you send: can these recipients’ mail servers be reached over an encrypted,
        authenticated connection? The check connects to each server and leaves without sending.</p>
      <form class="form-grid" onSubmit=${this.check} novalidate>
        <${Field} id="check-input" label="Addresses or domains" name="recipients" error=${error}
          hint="Separated by commas or new lines; up to 50.">
          ${(a) => html`<textarea ...${a} rows="2" spellcheck="false" value=${input}
            onInput=${(e) => this.setState({ input: e.currentTarget.value })}></textarea>`}
        <//>
        <${Field} id="check-level" label="Judge as a domain with policy level" name="policy_level" error=${error}>
          ${(
            a,
          ) => html`<select ...${a} value=${level} onChange=${(e) => this.setState({ level: e.currentTarget.value })}>
            ${POLICY_LEVELS.map((p) => html`<option value=${p.id}>${p.label}</option>`)}
          </select>`}
        <//>
        <div class="actions"><button type="submit" disabled=${busy || input.trim() === ''}>${busy ? 'Checking…' : 'Check'}</button></div>
      </form>
      ${error && !error.field && html`<${ErrorNotice} error=${error} />`}
      ${results?.map((r) => html`<${DomainResult} result=${r} />`)}
    </section>`;
  }
}

function DomainResult({ result: r }) {
  const verdict = VERDICT[r.verdict] ?? { label: r.verdict, tone: 'neutral' };
  return html`<article class="panel check-result" data-domain=${r.domain} data-verdict=${r.verdict}>
    <header class="recipient-head"><h2>${r.domain}</h2><${Badge} tone=${verdict.tone}>${verdict.label}<//></header>
    ${
      r.verdict === 'deliver' &&
      html`<p>Authenticated by <strong>${METHODS[r.method] ?? r.method}</strong> over ${r.tlsVersion}, ${r.cipher}.</p>`
    }
    ${r.explanation && r.verdict !== 'deliver' && html`<p><strong>Why:</strong> ${r.explanation}</p>`}
    ${r.fix && r.verdict !== 'deliver' && html`<p><strong>What their mail administrator can do:</strong> ${r.fix}</p>`}
    ${r.message && html`<p class="hint">${r.message}</p>`}
    ${
      r.hosts.length > 0 &&
      html`<div class="table-scroll"><table class="data">
      <caption class="offscreen">Mail servers of ${r.domain}</caption>
      <thead><tr><th scope="col">Mail server</th><th scope="col">Address</th><th scope="col">Result</th>
        <th scope="col">Judged by</th><th scope="col">TLS</th><th scope="col">Reason</th></tr></thead>
      <tbody>
        ${r.hosts.map(
          (h) => html`<tr data-host=${h.host}>
            <th scope="row">${h.host} <span class="hint">(preference ${h.preference})</span></th>
            <td>${h.address ?? '—'}</td>
            <td><${Badge} tone=${h.result === 'pass' ? 'good' : 'bad'}>${h.result === 'pass' ? 'Passed' : 'Failed'}<//></td>
            <td>${h.method ? (METHODS[h.method] ?? h.method) : '—'}</td>
            <td>${h.tlsVersion ?? '—'}</td>
            <td>${h.reason ? html`<code>${h.reason}</code>` : '—'}${h.detail && html`<p class="hint">${h.detail}</p>`}</td>
          </tr>`,
        )}
      </tbody>
    </table></div>`
    }
    ${
      r.certificate &&
      html`<p class="hint">Certificate ${r.certificate.subject}, issued by ${r.certificate.issuer}, valid until ${when(r.certificate.validTo)}; SHA-256${' '}<code class="fingerprint">${fingerprint(r.certificate.sha256)}</code></p>`
    }
  </article>`;
}
