// Messages: the tenant's messages newest first, filtered by recipient status, domain and
// period, with recipient counts per status; and the evidence export for an auditor (every
// attempt of a domain in a period, as CSV or JSON).

import { Badge, DomainPicker, ErrorNotice, Field, Notice, Page } from '../components/ui.js';
import { saveFile } from '../lib/download.js';
import { count, decodeSubject, isoDay, STATUSES, when } from '../lib/format.js';
import { Component, html } from '../lib/html.js';
import { go, href } from '../lib/router.js';

const PERIODS = [
  { id: '1', label: 'Today' },
  { id: '7', label: 'Last 7 days' },
  { id: '30', label: 'Last 30 days' },
  { id: '90', label: 'Last 90 days' },
];
const PAGE_SIZE = 25;
const DAY_MS = 86_400_000;

export class MessagesPage extends Page {
  title() {
    return 'Messages';
  }

  get filters() {
    const q = this.props.route.query;
    const period = PERIODS.some((p) => p.id === q.get('days')) ? q.get('days') : '30';
    return {
      status: q.get('status') ?? '',
      domain: q.get('domain') ?? '',
      days: period,
      cursor: q.get('cursor') ?? '',
    };
  }

  async load() {
    const f = this.filters;
    // The period as the service counts it (UTC days up to its today), for the list and the counts alike.
    const [accounts, stats] = await Promise.all([
      this.props.api.get('/accounts'),
      this.props.api.get('/stats', { days: f.days, domain: f.domain }),
    ]);
    const list = await this.props.api.get('/messages', {
      status: f.status,
      domain: f.domain,
      since: stats.from,
      limit: PAGE_SIZE,
      cursor: f.cursor,
    });
    return { accounts: accounts.accounts, list, stats };
  }

  body({ accounts, list, stats }) {
    const f = this.filters;
    const set = (change) => go('/messages', { ...f, cursor: '', ...change });
    const byStatus = stats.recipients_by_status;
    return html`
      <form class="toolbar filters" onSubmit=${(e) => e.preventDefault()} aria-label="Filters">
        <div class="field field-inline">
          <label for="filter-status">Status</label>
          <select id="filter-status" value=${f.status} onChange=${(e) => set({ status: e.currentTarget.value })}>
            <option value="">Any status</option>
            ${STATUSES.map((s) => html`<option value=${s.id}>${s.label}</option>`)}
          </select>
        </div>
        <${DomainPicker} id="filter-domain" accounts=${accounts} value=${f.domain} allowAll
          onChange=${(domain) => set({ domain })} />
        <div class="field field-inline">
          <label for="filter-period">Period</label>
          <select id="filter-period" value=${f.days} onChange=${(e) => set({ days: e.currentTarget.value })}>
            ${PERIODS.map((p) => html`<option value=${p.id}>${p.label}</option>`)}
          </select>
        </div>
      </form>
      <p class="hint">Recipients of the messages accepted in this period, by their status now:</p>
      <ul class="status-counts" aria-label="Recipients by status">
        ${STATUSES.filter((s) => byStatus[s.id]).map(
          (
            s,
          ) => html`<li data-status=${s.id}><a href=${href('/messages', { ...f, cursor: '', status: s.id })}>
            <${Badge} tone=${s.tone}>${s.label}<//> <span class="count">${count(byStatus[s.id])}</span></a></li>`,
        )}
        ${Object.keys(byStatus).length === 0 && html`<li class="empty">No recipients in this period.</li>`}
      </ul>
      ${
        list.messages.length === 0
          ? html`<p class="empty">No messages match these filters.</p>`
          : html`<div class="table-scroll"><table class="data messages">
            <caption class="offscreen">Messages, newest first</caption>
            <thead><tr><th scope="col">Accepted</th><th scope="col">Subject</th><th scope="col">From</th>
              <th scope="col" class="num">Recipients</th><th scope="col">Status</th></tr></thead>
            <tbody>
              ${list.messages.map(
                (m) => html`<tr data-id=${m.id}>
                  <td>${when(m.created_at)}</td>
                  <th scope="row"><a href=${href(`/messages/${m.id}`)}>${decodeSubject(m.subject)}</a></th>
                  <td>${m.sender}</td>
                  <td class="num">${count(m.recipient_count)}</td>
                  <td><${StatusCounts} statuses=${m.statuses} /></td>
                </tr>`,
              )}
            </tbody>
          </table></div>`
      }
      <nav class="pager" aria-label="Pages">
        ${f.cursor && html`<a href=${href('/messages', { ...f, cursor: '' })}>First page</a>`}
        ${list.next_cursor && html`<a href=${href('/messages', { ...f, cursor: list.next_cursor })}>Older messages</a>`}
      </nav>
      <${EvidenceExport} api=${this.props.api} accounts=${accounts} domain=${f.domain}
        today=${stats.to} />`;
  }
}

export function StatusCounts({ statuses }) {
  return html`<ul class="chips">
    ${STATUSES.filter((s) => statuses[s.id]).map(
      (s) =>
        html`<li data-status=${s.id}><${Badge} tone=${s.tone}>${s.label}: ${count(statuses[s.id])}<//></li>`,
    )}
  </ul>`;
}

/** Downloads GET /account/evidence for a domain and period as CSV or JSON. */
class EvidenceExport extends Component {
  state = {
    domain: this.props.domain || this.props.accounts[0]?.domain || '',
    // The service's today (the end of the stats period), not the browser's clock.
    from: isoDay(Date.parse(this.props.today) - 30 * DAY_MS),
    to: isoDay(Date.parse(this.props.today) - DAY_MS),
    format: 'csv',
    busy: false,
    error: undefined,
    done: undefined,
  };

  download = async (event) => {
    event.preventDefault();
    const { domain, from, to, format } = this.state;
    this.setState({ busy: true, error: undefined, done: undefined });
    try {
      const { blob, name } = await this.props.api.download('/account/evidence', {
        domain,
        format,
        from: `${from}T00:00:00.000Z`,
        // The whole last day: `to` is exclusive.
        to: new Date(Date.parse(`${to}T00:00:00.000Z`) + DAY_MS).toISOString(),
      });
      saveFile(blob, name);
      this.setState({ busy: false, done: name });
    } catch (error) {
      this.setState({ busy: false, error });
    }
  };

  render({ accounts }, { domain, from, to, format, busy, error, done }) {
    if (accounts.length === 0) return null;
    return html`<section class="panel" aria-labelledby="export">
      <h2 id="export">Export evidence</h2>
      <p class="hint">Every delivery attempt of a domain in the period, with how the receiving server was
        reached: MX host, TLS version and cipher, authentication method, certificate, DNSSEC. For an auditor. Both days are included.</p>
      ${error && html`<${ErrorNotice} error=${error} />`}
      ${done && html`<${Notice} tone="success">Downloaded ${done}.<//>`}
      <form class="form-grid form-row" onSubmit=${this.download}>
        <${DomainPicker} id="export-domain" accounts=${accounts} value=${domain}
          onChange=${(d) => this.setState({ domain: d })} />
        <${Field} id="export-from" label="From (UTC day)" name="from" error=${error}>
          ${(a) => html`<input ...${a} type="date" value=${from} max=${to}
            onInput=${(e) => this.setState({ from: e.currentTarget.value })} />`}
        <//>
        <${Field} id="export-to" label="To (UTC day)" name="to" error=${error}>
          ${(a) => html`<input ...${a} type="date" value=${to} min=${from}
            onInput=${(e) => this.setState({ to: e.currentTarget.value })} />`}
        <//>
        <fieldset class="field">
          <legend>Format</legend>
          ${['csv', 'json'].map(
            (f) => html`<label class="inline"><input type="radio" name="export-format" value=${f}
              checked=${format === f} onChange=${() => this.setState({ format: f })} /> ${f.toUpperCase()}</label>`,
          )}
        </fieldset>
        <div class="actions"><button type="submit" disabled=${busy || !domain}>${busy ? 'Preparing…' : 'Download evidence'}</button></div>
      </form>
    </section>`;
  }
}
