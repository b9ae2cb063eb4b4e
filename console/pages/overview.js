// Overview: the last 7 or 30 days at a glance. Per day how many attempts delivered, were
// refused as insecure, bounced or were deferred; how delivered mail was authenticated and
// over which TLS version; and why recipients were refused, with the domains behind it.

import { DailyChart, DailyTable, SERIES } from '../components/chart.js';
import { DomainPicker, Page } from '../components/ui.js';
import { count, METHODS, percent } from '../lib/format.js';
import { html } from '../lib/html.js';
import { go, href } from '../lib/router.js';

const PERIODS = [7, 30];

export class OverviewPage extends Page {
  title() {
    return 'Overview';
  }

  get days() {
    return PERIODS.includes(Number(this.props.route.query.get('days')))
      ? Number(this.props.route.query.get('days'))
      : 7;
  }

  get domain() {
    return this.props.route.query.get('domain') ?? '';
  }

  async load() {
    const [accounts, stats] = await Promise.all([
      this.props.api.get('/accounts'),
      this.props.api.get('/stats', { days: this.days, domain: this.domain }),
    ]);
    return { accounts: accounts.accounts, stats };
  }

  body({ accounts, stats }) {
    const days = this.days;
    const set = (change) => go('/overview', { days, domain: this.domain, ...change });
    return html`
      ${
        accounts.length === 0 &&
        html`<div class="panel panel-highlight">
        <h2>Get started</h2>
        <p>Add the domain you send from, publish the DNS records it lists, and verify it.
          Then you can send, and follow every message here.</p>
        <a class="button" href=${href('/domains')}>Add a domain</a>
      </div>`
      }
      <div class="toolbar">
        <div class="segmented" role="group" aria-label="Period">
          ${PERIODS.map(
            (p) => html`<button type="button" aria-pressed=${p === days ? 'true' : 'false'}
              onClick=${() => set({ days: p })}>Last ${p} days</button>`,
          )}
        </div>
        <${DomainPicker} accounts=${accounts} value=${this.domain} allowAll
          onChange=${(domain) => set({ domain })} />
      </div>
      <ul class="cards" aria-label="Totals">
        ${SERIES.map(
          (s) => html`<li class=${`card ${s.className}`} data-series=${s.key}>
            <span class="card-value">${count(stats.totals[s.key])}</span>
            <span class="card-label">${s.label}</span>
          </li>`,
        )}
      </ul>
      <section class="panel" aria-labelledby="per-day">
        <h2 id="per-day">Per day</h2>
        <p class="hint">Delivery attempts per day (UTC). A recipient that is deferred and later
          delivered counts on both days; bounces include bounce reports received that day.</p>
        <${DailyChart} days=${stats.days} title=${`Last ${days} days`} />
        <details>
          <summary>Show the numbers as a table</summary>
          <${DailyTable} days=${stats.days} />
        </details>
      </section>
      <div class="columns">
        <section class="panel" aria-labelledby="methods">
          <h2 id="methods">How delivered mail was authenticated</h2>
          <${Shares} items=${stats.authentication.map((a) => ({
            key: a.method,
            label: METHODS[a.method] ?? a.method,
            count: a.count,
          }))} />
          <h3>TLS version</h3>
          ${
            stats.tls_versions.length === 0
              ? html`<p class="empty">Nothing delivered in this period.</p>`
              : html`<${Shares} items=${stats.tls_versions.map((v) => ({
                  key: v.version,
                  label: v.version.replace('TLSv', 'TLS '),
                  count: v.count,
                }))} />`
          }
        </section>
        <section class="panel" aria-labelledby="reasons">
          <h2 id="reasons">Top refusal reasons</h2>
          ${
            stats.refusal_reasons.length === 0
              ? html`<p class="empty">No recipient was refused in this period.</p>`
              : html`<ol class="reasons">
                ${stats.refusal_reasons.map(
                  (r) => html`<li>
                    <p><strong>${r.explanation ?? r.reason}</strong> <span class="count">${count(r.count)}×</span></p>
                    <p class="hint">Reason code <code>${r.reason}</code>. Recipient domains:
                      ${r.domains.map((d, i) => html`${i > 0 ? ', ' : ' '}<span class="domain">${d.domain}</span> (${count(d.count)})`)}</p>
                  </li>`,
                )}
              </ol>`
          }
          <p><a href=${href('/messages', { status: 'refused_insecure' })}>Messages with refused recipients</a></p>
        </section>
      </div>`;
  }
}

/** Shares of a whole as labelled bars with counts and percentages. */
function Shares({ items }) {
  const total = items.reduce((sum, i) => sum + i.count, 0);
  return html`<ul class="shares">
    ${items.map(
      (i) => html`<li data-key=${i.key}>
        <span class="share-label">${i.label}</span>
        <span class="share-bar" aria-hidden="true"><${Fill} fraction=${total === 0 ? 0 : i.count / total} /></span>
        <span class="share-value">${count(i.count)} (${percent(i.count, total)})</span>
      </li>`,
    )}
  </ul>`;
}

/** The filled part of a share bar, sized with the CSSOM (the CSP allows no inline style attributes). */
function Fill({ fraction }) {
  return html`<span class="share-fill" ref=${(el) => el?.style.setProperty('width', `${Math.round(fraction * 100)}%`)}></span>`;
}
