// The metrics an operator graphs, beside the HTTP counters of src/api/metrics.ts: what
// happened to recipients (outcome, reason, authentication method, TLS version, time from
// acceptance to the final state), DNS failures, domain verifications, webhook deliveries and
// what the bounce MX received. docs/operations.md lists them; docs/grafana-dashboard.json
// graphs them.
//
// The parts of the service do not know prom-client: each takes a small callback (an
// observer) in its dependencies, and service.ts hands it the functions below. Every label
// value is one of a fixed set (statuses, reason codes, methods, kinds): no domain, address or
// host name ever becomes a label, so the number of series stays bounded whatever the traffic.

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { DnsOutcome, RecordType } from '../dns/types.ts';
import type { DispatchSummary } from '../notify/webhook-dispatcher.ts';
import type { RecordedAttempt } from '../recipients/attempts.ts';
import { INBOUND_KINDS, type InboundKind } from '../store/inbound.table.ts';
import type { VerificationOutcome } from '../store/schema.ts';
import { OWN_REASONS, REASONS } from '../vocabulary/reasons.ts';
import { isFinal } from '../vocabulary/recipient-statuses.ts';

/** Reason labels: every reason code, ours, `none`; anything else (a newer row) is `other`. */
const REASON_LABELS = new Set<string>([...Object.keys(REASONS), ...OWN_REASONS]);
const TLS_VERSIONS = new Set(['TLSv1.2', 'TLSv1.3']);

const WEBHOOK_RESULTS: ReadonlyArray<keyof DispatchSummary> = [
  'delivered',
  'retrying',
  'failed',
  'dropped',
];
const VERIFICATION_OUTCOMES: ReadonlyArray<VerificationOutcome | 'error'> = [
  'valid',
  'invalid',
  'transient',
  'error',
];

/**
 * From acceptance to the final state: seconds for a secure server nearby, minutes to days
 * for a recipient that is retried until its window ends (SECUREMAIL_RETRY_WINDOW_HOURS).
 */
const LATENCY_BUCKETS = [
  0.5,
  1,
  2,
  5,
  10,
  30,
  60,
  300,
  900,
  1800,
  3600,
  3 * 3600,
  12 * 3600,
  86_400,
  3 * 86_400,
  5 * 86_400,
];

export interface ServiceMetrics {
  /** Worker: outcomes of attempts as they were committed (src/recipients/attempts.ts). */
  attemptsRecorded(recorded: readonly RecordedAttempt[], at: number): void;
  /** DNS client: a question that ended in SERVFAIL or a timeout. */
  dnsFailure(outcome: Extract<DnsOutcome, 'servfail' | 'timeout'>, type: RecordType): void;
  /** Domain verifier: how a scheduled check of an account's records ended. */
  domainVerified(outcome: VerificationOutcome | 'error'): void;
  /** Webhook dispatcher: how the events of one pass went. */
  webhooksDispatched(summary: DispatchSummary): void;
  /** Bounce MX: one received message, per accepted recipient address. */
  bounceMxReceived(kinds: readonly InboundKind[]): void;
}

export function createServiceMetrics(registry: Registry): ServiceMetrics {
  const registers = [registry];
  const attempts = new Counter({
    name: 'securemail_delivery_attempts_total',
    help:
      "Attempts recorded, by the recipient's new status (outcome), reason, authentication " +
      'method (dane, mta-sts, pkix; none when nothing was sent) and TLS version.',
    labelNames: ['outcome', 'reason', 'method', 'tls_version'],
    registers,
  });
  const latency = new Histogram({
    name: 'securemail_delivery_latency_seconds',
    help: 'Time from acceptance (POST /message) to the final state, by that state.',
    labelNames: ['outcome'],
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const dns = new Counter({
    name: 'securemail_dns_failures_total',
    help: 'DNS questions without a usable answer, by kind (servfail, timeout) and record type.',
    labelNames: ['kind', 'type'],
    registers,
  });
  const verifications = new Counter({
    name: 'securemail_domain_verifications_total',
    help: "Scheduled checks of accounts' DNS records, by outcome (valid, invalid, transient, error).",
    labelNames: ['outcome'],
    registers,
  });
  const webhooks = new Counter({
    name: 'securemail_webhook_deliveries_total',
    help: 'Webhook event deliveries, by result (delivered, retrying, failed, dropped).',
    labelNames: ['result'],
    registers,
  });
  const inbound = new Counter({
    name: 'securemail_bounce_mx_messages_total',
    help: 'Messages the bounce MX accepted, per recipient address, by how they were classified.',
    labelNames: ['kind'],
    registers,
  });
  // The small label sets start at zero, so a graph shows 0 rather than nothing.
  for (const outcome of VERIFICATION_OUTCOMES) verifications.inc({ outcome }, 0);
  for (const result of WEBHOOK_RESULTS) webhooks.inc({ result }, 0);
  for (const kind of INBOUND_KINDS) inbound.inc({ kind }, 0);

  return {
    // 0.6 us of CPU per delivered attempt (500,000 in a loop), against about 640 us per
    // message the worker spends: metrics cost the delivery path about 0.1%.
    attemptsRecorded(recorded, at) {
      for (const r of recorded) {
        attempts.inc({
          outcome: r.status,
          reason: r.reason === null ? 'none' : REASON_LABELS.has(r.reason) ? r.reason : 'other',
          method: r.authentication ?? 'none',
          tls_version:
            r.tlsVersion === null
              ? 'none'
              : TLS_VERSIONS.has(r.tlsVersion)
                ? r.tlsVersion
                : 'other',
        });
        if (isFinal(r.status)) {
          latency.observe({ outcome: r.status }, Math.max(0, at - r.acceptedAt) / 1000);
        }
      }
    },
    dnsFailure(outcome, type) {
      dns.inc({ kind: outcome, type });
    },
    domainVerified(outcome) {
      verifications.inc({ outcome });
    },
    webhooksDispatched(summary) {
      for (const result of WEBHOOK_RESULTS) {
        if (summary[result] > 0) webhooks.inc({ result }, summary[result]);
      }
    },
    bounceMxReceived(kinds) {
      for (const kind of kinds) inbound.inc({ kind });
    },
  };
}

/** `securemail_role{role="worker"} 1` per role this process runs: which target is which. */
export function registerRoles(registry: Registry, roles: readonly string[]): void {
  const gauge = new Gauge({
    name: 'securemail_role',
    help: 'The roles this process runs (api, worker, mx), 1 each.',
    labelNames: ['role'],
    registers: [registry],
  });
  for (const role of roles) gauge.set({ role }, 1);
}
