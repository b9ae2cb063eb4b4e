// What a long `securemail check` is waiting for: a resolver that does not answer makes a check
// sit silent for seconds (2 tries of SECUREMAIL_DNS_TIMEOUT_MS per query, and a domain asks
// several). Wrapping the resolver lets the command say, once per question, "waiting for
// 127.0.0.1:53 (MX example.nl) ..." when an answer takes longer than `afterMs`.

import type { Resolver } from '../dns/index.ts';

export interface ResolverWatch {
  resolver: Resolver;
  stop(): void;
}

export function watchResolver(
  inner: Resolver,
  say: (line: string) => void,
  options: { afterMs: number; now?: () => number },
): ResolverWatch {
  const now = options.now ?? Date.now;
  const servers = inner.servers?.map((s) => s.address).join(', ') ?? 'the resolver';
  // Questions in flight, with when they were asked and whether they were announced.
  const waiting = new Map<object, { question: string; since: number; said: boolean }>();
  const timer = setInterval(
    () => {
      for (const entry of waiting.values()) {
        if (entry.said || now() - entry.since < options.afterMs) continue;
        entry.said = true;
        say(`waiting for ${servers} (${entry.question}) ...`);
      }
    },
    Math.max(50, Math.floor(options.afterMs / 4)),
  );
  timer.unref();
  const resolver: Resolver = {
    ...(inner.servers === undefined ? {} : { servers: inner.servers }),
    async query(name, type) {
      const key = {};
      waiting.set(key, { question: `${type} ${name}`, since: now(), said: false });
      try {
        return await inner.query(name, type);
      } finally {
        waiting.delete(key);
      }
    },
  };
  return { resolver, stop: () => clearInterval(timer) };
}
