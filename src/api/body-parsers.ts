// Which request bodies the API reads. JSON everywhere; the token endpoint also takes a form
// body (RFC 6749 section 4.4), and nothing else does: a form or plain text sent to a JSON
// route is answered 415 `unsupported_media_type`, as the README says, instead of being read
// as something else and failing validation with a confusing message.
//
// An empty body is no body, whatever its content type: `curl -X POST -H 'content-type:
// application/json' .../account/verify` (a route without a body) is a normal request, and so
// is a token request with HTTP Basic and nothing else. Fastify answers both 400 by default.

import type { FastifyInstance } from 'fastify';
import { AppError } from '../errors.ts';

const JSON_ONLY =
  'Send the body as application/json (the token endpoint also takes application/x-www-form-urlencoded).';

/** On the root app: JSON bodies, an empty one read as no body; any other type only empty. */
export function registerBodyParsers(app: FastifyInstance): void {
  // Fastify's own parser, so prototype poisoning is refused exactly as before.
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = String(body);
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    parse(request, text, done);
  });
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
    if (String(body).trim() === '') done(null, undefined);
    else done(new AppError('unsupported_media_type', { message: JSON_ONLY }), undefined);
  });
}

/** In the API's own context (not the token endpoint): no form bodies either. */
export function acceptOnlyJson(api: FastifyInstance): void {
  api.removeContentTypeParser('application/x-www-form-urlencoded');
}
