// The console is an API client like any other: it asks the token endpoint for a token with
// the client id and secret, and sends it as a Bearer header. The token lives in this tab's
// sessionStorage (gone when the tab closes, never in a cookie, so there is nothing for a
// cross-site request to use) and never in a URL. Signing out forgets it.

const STORAGE_KEY = 'securemail.session';

/** An error answer of the API: the KPN body {status, name, message, field?}. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `The service answered ${status}.`);
    this.status = status;
    this.name = body?.name ?? 'error';
    this.field = body?.field;
    this.retryAfter = undefined;
  }
}

export class Api {
  /** @param settings {api_base, token_path} from /console/settings.json */
  constructor(settings) {
    this.base = settings.api_base;
    this.tokenPath = settings.token_path;
    this.session = readSession();
    /** Called when the service no longer accepts the token. */
    this.onSignedOut = () => {};
  }

  get signedIn() {
    return this.session !== undefined && this.session.expiresAt > Date.now();
  }

  get clientId() {
    return this.session?.clientId;
  }

  async signIn(clientId, clientSecret) {
    const response = await fetch(`${this.tokenPath}?grant_type=client_credentials`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: clientId, client_secret: clientSecret }),
      credentials: 'omit',
      cache: 'no-store',
    });
    const body = await response.json().catch(() => undefined);
    if (!response.ok) {
      const error = new ApiError(response.status, body);
      error.retryAfter = response.headers.get('retry-after') ?? undefined;
      throw error;
    }
    this.session = {
      token: body.access_token,
      clientId: body.client_id,
      expiresAt: Date.now() + Number(body.expires_in) * 1000,
    };
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(this.session));
  }

  signOut() {
    this.session = undefined;
    sessionStorage.removeItem(STORAGE_KEY);
  }

  get(path, query) {
    return this.request('GET', path, { query });
  }

  /** JSON in, JSON out; throws ApiError on an error answer. */
  async request(method, path, { query, body } = {}) {
    const response = await this.fetch(method, path, query, body);
    if (response.status === 204) return undefined;
    return response.json();
  }

  /** A file answer (the evidence export): its bytes and the name the service gives it. */
  async download(path, query) {
    const response = await this.fetch('GET', path, query);
    const disposition = response.headers.get('content-disposition') ?? '';
    const name = /filename="([^"]+)"/.exec(disposition)?.[1] ?? 'download';
    return { blob: await response.blob(), name };
  }

  async fetch(method, path, query, body) {
    const url = new URL(this.base + path, location.origin);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== '') url.searchParams.set(key, value);
    }
    const headers = { authorization: `Bearer ${this.session?.token ?? ''}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
    if (!response.ok) {
      const error = new ApiError(response.status, await response.json().catch(() => undefined));
      if (response.status === 401) {
        this.signOut();
        this.onSignedOut('Your session has ended. Sign in again.');
      }
      throw error;
    }
    return response;
  }
}

function readSession() {
  try {
    const stored = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? 'null');
    if (stored && typeof stored.token === 'string' && stored.expiresAt > Date.now()) return stored;
  } catch {
    // A damaged entry is the same as none.
  }
  sessionStorage.removeItem(STORAGE_KEY);
  return undefined;
}
