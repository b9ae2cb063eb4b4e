// The bounce MX's public surface: what service.ts, submission and the worker use.

export {
  applyBounce,
  type BounceEvent,
  type BounceOutcome,
  type BounceResult,
  DSN_BOUNCE_REASON,
} from './apply-bounce.ts';
export {
  type InboundConfig,
  loadInboundConfig,
  loadWebhookConfig,
  type WebhookConfig,
} from './config.ts';
export { type InboundMxDeps, type RunningMx, startInboundMx } from './mx-server.ts';
export { recipientIdFromVerp } from './receive.ts';
export { filterSuppressed, isHardBounce, suppressAddress } from './suppression.ts';
