// Suppressions: the addresses a domain does not send to (hard bounces add themselves, and
// the owner can add and remove entries). Paged in address order.

import { DomainPicker, ErrorNotice, Field, Notice, Page } from '../components/ui.js';
import { when } from '../lib/format.js';
import { html } from '../lib/html.js';
import { go, href } from '../lib/router.js';

const REASONS = { hard_bounce: 'Hard bounce', manual: 'Added by hand' };

export class SuppressionsPage extends Page {
  state = {
    ...this.state,
    address: '',
    note: '',
    busy: false,
    actionError: undefined,
    notice: undefined,
  };

  title() {
    return 'Suppressions';
  }

  async load() {
    const { accounts } = await this.props.api.get('/accounts');
    const domain = this.props.route.query.get('domain') || accounts[0]?.domain;
    if (domain === undefined) return { accounts, domain, list: undefined };
    const list = await this.props.api.get('/account/suppressions', {
      domain,
      after: this.props.route.query.get('after') ?? '',
    });
    return { accounts, domain, list };
  }

  add = async (event) => {
    event.preventDefault();
    const { domain } = this.state.data;
    this.setState({ busy: true, actionError: undefined, notice: undefined });
    try {
      await this.props.api.request('POST', '/account/suppressions', {
        query: { domain },
        body: {
          address: this.state.address.trim(),
          ...(this.state.note ? { detail: this.state.note } : {}),
        },
      });
      this.setState({
        busy: false,
        address: '',
        note: '',
        notice: 'Address added to the suppression list.',
      });
      await this.reload();
    } catch (error) {
      this.setState({ busy: false, actionError: error });
    }
  };

  remove = async (address) => {
    const { domain } = this.state.data;
    this.setState({ actionError: undefined, notice: undefined });
    try {
      await this.props.api.request('DELETE', '/account/suppressions', {
        query: { domain, address },
      });
      this.setState({ notice: `${address} will receive mail again.` });
      await this.reload();
    } catch (error) {
      this.setState({ actionError: error });
    }
  };

  body({ accounts, domain, list }) {
    if (domain === undefined) return html`<p class="empty">Add a domain first.</p>`;
    const { address, note, busy, actionError, notice } = this.state;
    return html`
      <div class="toolbar">
        <${DomainPicker} accounts=${accounts} value=${domain} onChange=${(d) => go('/suppressions', { domain: d })} />
      </div>
      <p class="hint">Mail to these addresses is not sent: their recipients get the status “Suppressed”.
        Addresses that bounce permanently are added automatically.</p>
      ${notice && html`<${Notice} tone="success">${notice}<//>`}
      ${actionError && !actionError.field && html`<${ErrorNotice} error=${actionError} />`}
      ${
        list.suppressions.length === 0
          ? html`<p class="empty">No suppressed addresses for ${domain}.</p>`
          : html`<div class="table-scroll"><table class="data">
            <caption class="offscreen">Suppressed addresses of ${domain}</caption>
            <thead><tr><th scope="col">Address</th><th scope="col">Why</th><th scope="col">Details</th>
              <th scope="col">Since</th><th scope="col"><span class="offscreen">Actions</span></th></tr></thead>
            <tbody>
              ${list.suppressions.map(
                (s) => html`<tr data-address=${s.address}>
                  <th scope="row">${s.address}</th>
                  <td>${REASONS[s.reason] ?? s.reason}</td>
                  <td>${s.detail ?? '—'}</td>
                  <td>${when(s.created_at)}</td>
                  <td><button type="button" class="button-small button-secondary" onClick=${() => this.remove(s.address)}
                    aria-label=${`Remove ${s.address} from the list`}>Remove</button></td>
                </tr>`,
              )}
            </tbody>
          </table></div>`
      }
      <nav class="pager" aria-label="Pages">
        ${this.props.route.query.get('after') && html`<a href=${href('/suppressions', { domain })}>First page</a>`}
        ${list.next_after && html`<a href=${href('/suppressions', { domain, after: list.next_after })}>Next page</a>`}
      </nav>
      <section class="panel" aria-labelledby="add-suppression">
        <h2 id="add-suppression">Suppress an address</h2>
        <form class="form-grid form-row" onSubmit=${this.add} novalidate>
          <${Field} id="suppress-address" label="Address" name="address" error=${actionError}>
            ${(a) => html`<input ...${a} type="email" value=${address} onInput=${(e) => this.setState({ address: e.currentTarget.value })} />`}
          <//>
          <${Field} id="suppress-note" label="Note (optional)" name="detail" error=${actionError}>
            ${(a) => html`<input ...${a} value=${note} maxlength="500" onInput=${(e) => this.setState({ note: e.currentTarget.value })} />`}
          <//>
          <div class="actions"><button type="submit" disabled=${busy || address.trim() === ''}>Add</button></div>
        </form>
      </section>`;
  }
}
