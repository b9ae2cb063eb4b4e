// Sign in with the client id and secret made with `securemail client create`. The secret is
// sent once to the token endpoint and not kept; only the token it returns is.

import { Field, Notice } from '../components/ui.js';
import { Component, createRef, html } from '../lib/html.js';

export class SignInPage extends Component {
  state = { clientId: '', secret: '', error: undefined, busy: false };
  form = createRef();

  componentDidMount() {
    document.title = 'Sign in · SecureMail';
    this.form.current?.querySelector('input')?.focus();
  }

  submit = async (event) => {
    event.preventDefault();
    this.setState({ busy: true, error: undefined });
    try {
      await this.props.api.signIn(this.state.clientId.trim(), this.state.secret);
      this.setState({ secret: '' });
      this.props.onSignedIn();
    } catch (error) {
      this.setState({ busy: false, error: signInProblem(error) });
    }
  };

  render({ notice }, { clientId, secret, error, busy }) {
    return html`<section class="sign-in">
      <p class="brand brand-large"><span class="logo" aria-hidden="true">✉</span> SecureMail</p>
      <h1>Sign in to the console</h1>
      <p>Use the client id and secret of your API client. Mail from your domains is only ever
        delivered over encrypted, authenticated connections; here you set up your domains and
        see how each message went out.</p>
      ${notice && !error && html`<${Notice}>${notice}<//>`}
      ${error && html`<${Notice} tone="error">${error}<//>`}
      <form onSubmit=${this.submit} novalidate ref=${this.form}>
        <${Field} id="client-id" label="Client id" name="client_id">
          ${(
            a,
          ) => html`<input ...${a} name="client_id" autocomplete="username" required spellcheck="false"
            value=${clientId} onInput=${(e) => this.setState({ clientId: e.currentTarget.value })} />`}
        <//>
        <${Field} id="client-secret" label="Client secret" name="client_secret">
          ${(
            a,
          ) => html`<input ...${a} type="password" name="client_secret" autocomplete="current-password" required
            value=${secret} onInput=${(e) => this.setState({ secret: e.currentTarget.value })} />`}
        <//>
        <button type="submit" disabled=${busy || clientId.trim() === '' || secret === ''}>
          ${busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <p class="hint">No client yet? An administrator makes one with${' '}<code>npx securemail client create --name "Your name"</code>.</p>
    </section>`;
  }
}

function signInProblem(error) {
  if (error.name === 'invalid_client')
    return 'The client id or secret is not right. Check both; if the secret was rotated, use the new one.';
  if (error.name === 'too_many_attempts')
    return `Too many attempts with a wrong secret. Wait ${error.retryAfter ?? 'a few'} seconds and try again.`;
  if (error instanceof TypeError) return 'The service cannot be reached. Try again in a moment.';
  return error.message;
}
