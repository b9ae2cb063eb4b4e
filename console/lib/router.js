// Hash routes (#/messages/ID?…): the server only serves static files, and the part after
// the # never reaches it or its logs. Nothing secret is ever put in a route.

export function currentRoute() {
  const hash = location.hash.replace(/^#/, '') || '/overview';
  const [path, search = ''] = hash.split('?');
  const parts = path
    .split('/')
    .filter((p) => p !== '')
    .map(decodeURIComponent);
  return { path, parts, query: new URLSearchParams(search), key: hash };
}

/** A route's href; `query` values that are empty are left out. */
export function href(path, query = {}) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') params.set(k, v);
  const search = params.toString();
  return `#${path}${search ? `?${search}` : ''}`;
}

export function go(path, query) {
  location.hash = href(path, query).slice(1);
}
