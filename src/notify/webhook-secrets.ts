// Webhook secrets at rest: sealed with the master key, bound to their webhook row, because
// the dispatcher needs the secret itself to sign (a hash would not do).

import { openText, type SealPurpose, sealToText } from '../secrets/sealed-box.ts';

// sealed-box.ts has no purpose of its own for webhook secrets yet; the context below keeps a
// sealed secret from opening as anything else (or in another row). Switch to a dedicated
// 'webhook-secret' purpose when it exists (before any secret is stored in production).
const PURPOSE: SealPurpose = 'webhook-secret';

function context(webhookId: string, slot: 'current' | 'previous'): string {
  return `webhook-secret:${webhookId}:${slot}`;
}

export function sealWebhookSecret(
  masterKey: Buffer,
  webhookId: string,
  slot: 'current' | 'previous',
  secret: string,
): string {
  return sealToText(masterKey, PURPOSE, context(webhookId, slot), secret);
}

export function openWebhookSecret(
  masterKey: Buffer,
  webhookId: string,
  slot: 'current' | 'previous',
  sealed: string,
): string {
  return openText(masterKey, PURPOSE, context(webhookId, slot), sealed).toString('utf8');
}
