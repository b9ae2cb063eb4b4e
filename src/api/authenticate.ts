// The gate in front of every API route: a valid Bearer token, then one unit of the
// client's request quota.

import type { FastifyReply, FastifyRequest } from 'fastify';
import { resolveToken } from '../clients/clients-service.ts';
import { AppError } from '../errors.ts';
import type { Store } from '../store/database.ts';
import type { Commits } from '../store/group-commit.ts';
import { takeQuota } from '../store/quota.repository.ts';
import { quotaWindow } from './quota-window.ts';
import type { AppConfig } from './settings.ts';

export interface GateDeps {
  store: Store;
  config: AppConfig;
  now: () => number;
  /** The quota take shares commits with other writes where that saves fsyncs. */
  commits: Commits;
}

const BEARER = /^Bearer\s+([A-Za-z0-9._~+/-]+=*)\s*$/i;

export function authenticateAndCount(deps: GateDeps) {
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    if (request.method === 'OPTIONS') return;
    const match = BEARER.exec(request.headers.authorization ?? '');
    if (match === null) {
      throw new AppError('invalid_token', {
        message: 'Send an access token as "Authorization: Bearer <token>".',
        headers: { 'www-authenticate': 'Bearer realm="securemail"' },
      });
    }
    const now = deps.now();
    const owner = await resolveToken(deps.store, match[1]!, now);
    if (owner === undefined) {
      throw new AppError('invalid_token', {
        message: 'The access token is unknown, expired or revoked.',
        headers: { 'www-authenticate': 'Bearer realm="securemail", error="invalid_token"' },
      });
    }
    request.caller = { clientId: owner.clientId, clientName: owner.clientName };

    const { quota } = deps.config;
    const window = quotaWindow(now, quota.interval, quota.timeUnit);
    const limit = owner.quotaLimit ?? quota.limit;
    const count = await deps.commits.statement((db) =>
      takeQuota(db, owner.clientId, window.start, limit),
    );
    request.quota = { limit, used: count.used, resetAt: window.end };
    if (!count.allowed) {
      const seconds = Math.max(1, Math.ceil((window.end - now) / 1000));
      throw new AppError('quota_exceeded', {
        message: `The quota of ${limit} requests per ${quota.interval} ${quota.timeUnit} is spent; try again in ${seconds} s.`,
        headers: { 'retry-after': String(seconds) },
      });
    }
  };
}
