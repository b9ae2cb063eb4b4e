// When a deferred recipient is tried again, in one visible rule: exponential backoff from
// one minute (SECUREMAIL_RETRY_MIN_SECONDS), capped at one hour, with jitter so that a server
// that came back is not hit by every queued message at once.

export const RETRY_BASE_MS = 60_000;
export const RETRY_CAP_MS = 3_600_000;

/** Delay before attempt `attempts + 1`, given that `attempts` have been made (>= 1). */
export function retryDelay(
  attempts: number,
  random: () => number = Math.random,
  baseMs = RETRY_BASE_MS,
): number {
  const exponential = Math.min(RETRY_CAP_MS, baseMs * 2 ** Math.max(0, attempts - 1));
  // Full range of 50-100 %: spreads retries without ever waiting longer than the cap.
  return Math.round(exponential * (0.5 + random() / 2));
}

export type RetryDecision = { retry: true; at: number } | { retry: false };

/** Retry while the next attempt still falls inside the retry window, else give up (expired). */
export function nextAttempt(
  attempts: number,
  now: number,
  acceptedAt: number,
  windowMs: number,
  random: () => number = Math.random,
  baseMs = RETRY_BASE_MS,
): RetryDecision {
  const at = now + retryDelay(attempts, random, baseMs);
  return at <= acceptedAt + windowMs ? { retry: true, at } : { retry: false };
}
