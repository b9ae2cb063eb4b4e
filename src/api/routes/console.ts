// The web console: static files under /console, served by the API process itself, so it
// installs and starts with the service and works without internet (no CDN). The console is
// only an API client: it holds a token in the browser tab, never a cookie, so these routes
// need no authentication and there is nothing for a cross-site request to ride on.
//
// Its pages get a strict Content-Security-Policy (no inline script, no eval, no framing):
// even an injected string in an API answer cannot run as script in the console.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { TOKEN_PATH } from './oauth.ts';

export const CONSOLE_PREFIX = '/console/';

/** Where the console's own files live: `console/` at the repository root. */
const CONSOLE_ROOT = path.resolve(import.meta.dirname, '../../../console');

/**
 * The libraries the browser loads, as the ES module files their packages publish (no build
 * step). Both have no imports of their own, so they load without an import map, which would
 * be inline script under the CSP.
 */
const VENDOR: Record<string, string> = {
  'preact.mjs': fileURLToPath(import.meta.resolve('preact')),
  'htm.mjs': fileURLToPath(import.meta.resolve('htm')),
};

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
};

export interface ConsoleDeps {
  /** SECUREMAIL_BASE_PATH: where the API routes are, told to the console. */
  apiBase: string;
  apiVersion: string;
}

/** Registers the console; call only when SECUREMAIL_CONSOLE is on. */
export async function registerConsole(app: FastifyInstance, deps: ConsoleDeps): Promise<void> {
  app.get('/', { schema: { hide: true } }, async (_request, reply) =>
    reply.redirect(CONSOLE_PREFIX, 302),
  );
  // Its own context: the headers and the static plugin apply to the console only.
  await app.register(async (scope) => {
    scope.addHook('onSend', async (_request, reply, payload) => {
      reply.headers(SECURITY_HEADERS);
      return payload;
    });
    await scope.register(fastifyStatic, {
      root: CONSOLE_ROOT,
      prefix: CONSOLE_PREFIX,
      // Routes for the files present at start-up, nothing else: no path is resolved on the
      // file system per request.
      wildcard: false,
      index: 'index.html',
      cacheControl: true,
      maxAge: 0,
      schemaHide: true,
    });
    const settings = JSON.stringify({
      api_base: deps.apiBase,
      token_path: TOKEN_PATH,
      api_version: deps.apiVersion,
    });
    scope.get(`${CONSOLE_PREFIX}settings.json`, { schema: { hide: true } }, async (_r, reply) =>
      reply
        .type('application/json; charset=utf-8')
        .header('cache-control', 'no-cache')
        .send(settings),
    );
    for (const [name, file] of Object.entries(VENDOR)) {
      const body = readFileSync(file);
      scope.get(`${CONSOLE_PREFIX}vendor/${name}`, { schema: { hide: true } }, async (_r, reply) =>
        reply
          .type('text/javascript; charset=utf-8')
          .header('cache-control', 'public, max-age=3600')
          .send(body),
      );
    }
  });
}
