// Domains: the tenant's sending domains with their state, and a form to add one. A new
// domain opens on its own page, which lists the DNS records to publish.

import { Badge, Field, FormError, Page } from '../components/ui.js';
import { DOMAIN_STATES, POLICY_LEVELS, when } from '../lib/format.js';
import { html } from '../lib/html.js';
import { go, href } from '../lib/router.js';

const FIELDS = ['domain', 'notification_email', 'policy_level'];

export class DomainsPage extends Page {
  state = {
    ...this.state,
    form: { domain: '', notification_email: '', policy_level: 'verified' },
    formError: undefined,
    busy: false,
  };

  title() {
    return 'Domains';
  }

  load() {
    return this.props.api.get('/accounts');
  }

  set(name, value) {
    this.setState({ form: { ...this.state.form, [name]: value } });
  }

  add = async (event) => {
    event.preventDefault();
    this.setState({ busy: true, formError: undefined });
    const { domain, notification_email, policy_level } = this.state.form;
    try {
      const created = await this.props.api.request('POST', '/account', {
        body: {
          domain: domain.trim(),
          notification_email: notification_email.trim(),
          policy_level,
        },
      });
      go(`/domains/${created.domain.name}`, { added: '1' });
    } catch (error) {
      this.setState({ busy: false, formError: error });
    }
  };

  body({ accounts }) {
    const { form, formError, busy } = this.state;
    return html`
      ${
        accounts.length === 0
          ? html`<p class="empty">No domains yet. Add the domain you send mail from below.</p>`
          : html`<div class="table-scroll"><table class="data">
            <caption class="offscreen">Your domains</caption>
            <thead><tr>
              <th scope="col">Domain</th><th scope="col">State</th><th scope="col">Policy level</th>
              <th scope="col">Notifications to</th><th scope="col">Added</th>
            </tr></thead>
            <tbody>
              ${accounts.map(
                (a) => html`<tr data-domain=${a.domain}>
                  <th scope="row"><a href=${href(`/domains/${a.domain}`)}>${a.domain}</a></th>
                  <td><${Badge} tone=${DOMAIN_STATES[a.state]?.tone}>${DOMAIN_STATES[a.state]?.label ?? a.state}<//></td>
                  <td>${POLICY_LEVELS.find((p) => p.id === a.policy_level)?.label ?? a.policy_level}</td>
                  <td>${a.notification_email}</td>
                  <td>${when(a.created_at)}</td>
                </tr>`,
              )}
            </tbody>
          </table></div>`
      }
      <section class="panel" aria-labelledby="add-domain">
        <h2 id="add-domain">Add a domain</h2>
        <${FormError} error=${formError} fields=${FIELDS} />
        <form onSubmit=${this.add} class="form-grid" novalidate>
          <${Field} id="new-domain" label="Domain" name="domain" error=${formError}
            hint="The domain you send from, e.g. example.nl (not www.example.nl).">
            ${(
              a,
            ) => html`<input ...${a} name="domain" required spellcheck="false" autocomplete="off"
              value=${form.domain} onInput=${(e) => this.set('domain', e.currentTarget.value)} />`}
          <//>
          <${Field} id="new-notification" label="Notification e-mail" name="notification_email" error=${formError}
            hint="Where refused and bounced recipients are reported.">
            ${(
              a,
            ) => html`<input ...${a} type="email" name="notification_email" required autocomplete="email"
              value=${form.notification_email} onInput=${(e) => this.set('notification_email', e.currentTarget.value)} />`}
          <//>
          <${Field} id="new-policy" label="Policy level" name="policy_level" error=${formError}
            hint=${POLICY_LEVELS.find((p) => p.id === form.policy_level)?.help}>
            ${(a) => html`<select ...${a} name="policy_level" value=${form.policy_level}
              onChange=${(e) => this.set('policy_level', e.currentTarget.value)}>
              ${POLICY_LEVELS.map((p) => html`<option value=${p.id}>${p.label}</option>`)}
            </select>`}
          <//>
          <div class="actions"><button type="submit" disabled=${busy}>${busy ? 'Adding…' : 'Add domain'}</button></div>
        </form>
      </section>`;
  }
}
