// The security engine's public surface. Other modules import from here, not from the parts.

export {
  type AuthMethod,
  POLICY_LEVELS,
  type PolicyLevel,
} from '../vocabulary/policy-levels.ts';
export {
  REASONS,
  type ReasonClass,
  type ReasonCode,
  type ReasonInfo,
  reasonClass,
} from '../vocabulary/reasons.ts';
export type { Verdict } from '../vocabulary/verdicts.ts';
export type { CertificateSummary } from './certificates.ts';
export {
  CHECK_CONCURRENCY,
  checkRecipients,
  type DomainReport,
  domainOf,
  type HostReport,
} from './check.ts';
export type { DomainEvidence, HostEvidence } from './evidence.ts';
export {
  type CachedStsPolicy,
  createMemoryStsPolicyCache,
  type StsPolicyCache,
} from './mta-sts-cache.ts';
export type { StsMode, StsPolicy } from './mta-sts-policy.ts';
export {
  MAX_ADDRESSES_TRIED,
  openSecureSession,
  type SecureSessionResult,
} from './open-session.ts';
export {
  DEFAULT_SECURITY_OPTIONS,
  type SecurityDeps,
  type SecurityOptions,
  securityOptions,
} from './options.ts';
export { exitCode, formatJson, formatReport, formatText, type TextOptions } from './report.ts';
export type { MailOptions, RcptOptions, SmtpClient, TranscriptEntry } from './smtp-client.ts';
export {
  queueIdFrom,
  SmtpError,
  type SmtpErrorKind,
  type SmtpReply,
  type SmtpStep,
} from './smtp-reply.ts';
export type { Rating, TlsParameters } from './tls-policy.ts';
