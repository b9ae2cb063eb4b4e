// The SecureMail console: a browser client of the public API. It signs in with a client id
// and secret (OAuth2 client credentials), then shows pages that each read and change the
// tenant's data through the same endpoints any API user has. See docs/console.md.

import { Api } from './lib/api.js';
import { Component, html, render } from './lib/html.js';
import { currentRoute, href } from './lib/router.js';
import { CheckPage } from './pages/check.js';
import { DomainPage } from './pages/domain.js';
import { DomainsPage } from './pages/domains.js';
import { MessagePage } from './pages/message.js';
import { MessagesPage } from './pages/messages.js';
import { OverviewPage } from './pages/overview.js';
import { SendPage } from './pages/send.js';
import { SignInPage } from './pages/sign-in.js';
import { SuppressionsPage } from './pages/suppressions.js';
import { WebhooksPage } from './pages/webhooks.js';

const NAVIGATION = [
  { path: '/overview', label: 'Overview' },
  { path: '/domains', label: 'Domains' },
  { path: '/messages', label: 'Messages' },
  { path: '/send', label: 'Send' },
  { path: '/check', label: 'Check a recipient' },
  { path: '/suppressions', label: 'Suppressions' },
  { path: '/webhooks', label: 'Webhooks' },
];

function pageFor(route) {
  const [section, id] = route.parts;
  switch (section) {
    case 'domains':
      return id === undefined ? DomainsPage : DomainPage;
    case 'messages':
      return id === undefined ? MessagesPage : MessagePage;
    case 'send':
      return SendPage;
    case 'check':
      return CheckPage;
    case 'suppressions':
      return SuppressionsPage;
    case 'webhooks':
      return WebhooksPage;
    default:
      return OverviewPage;
  }
}

class App extends Component {
  state = { route: currentRoute(), signedIn: this.props.api.signedIn, notice: undefined };

  componentDidMount() {
    this.onHash = () => this.setState({ route: currentRoute() });
    addEventListener('hashchange', this.onHash);
    this.props.api.onSignedOut = (notice) => this.setState({ signedIn: false, notice });
  }

  componentWillUnmount() {
    removeEventListener('hashchange', this.onHash);
  }

  signedIn = () => this.setState({ signedIn: true, notice: undefined });

  signOut = () => {
    this.props.api.signOut();
    this.setState({ signedIn: false, notice: 'You are signed out.' });
  };

  render({ api }, { route, signedIn, notice }) {
    if (!signedIn) {
      return html`<main id="main" class="sign-in-main">
        <${SignInPage} api=${api} notice=${notice} onSignedIn=${this.signedIn} />
      </main>`;
    }
    const Page = pageFor(route);
    const section = `/${route.parts[0] ?? 'overview'}`;
    return html`<div class="layout">
      <a class="skip" href="#main" onClick=${skipToMain}>Skip to content</a>
      <header class="top">
        <a class="brand" href=${href('/overview')}><span class="logo" aria-hidden="true">✉</span> SecureMail</a>
        <nav aria-label="Main">
          <ul>
            ${NAVIGATION.map(
              (item) => html`<li><a href=${href(item.path)}
                aria-current=${item.path === section ? 'page' : undefined}>${item.label}</a></li>`,
            )}
          </ul>
        </nav>
        <div class="who">
          <span class="client" title=${`Signed in as client ${api.clientId}`}><span class="offscreen">Signed in as client </span>${api.clientId.slice(0, 8)}…</span>
          <button type="button" class="button-secondary button-small" onClick=${this.signOut}>Sign out</button>
        </div>
      </header>
      <main id="main" tabindex="-1">
        <${Page} key=${route.key} api=${api} route=${route} />
      </main>
    </div>`;
  }
}

/** The skip link moves the focus without changing the hash route. */
function skipToMain(event) {
  event.preventDefault();
  document.querySelector('main h1')?.focus();
}

async function start() {
  const root = document.getElementById('app');
  try {
    const response = await fetch('/console/settings.json', { cache: 'no-store' });
    const settings = await response.json();
    render(html`<${App} api=${new Api(settings)} />`, root);
  } catch {
    root.textContent =
      'The console could not start: the service did not answer. Reload the page to try again.';
  }
}

start();
