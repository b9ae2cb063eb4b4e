// Following a CNAME chain through the answer section of one reply.

import { normaliseName } from './names.ts';
import type { RecordData, RecordType } from './types.ts';
import type { AnswerRecord } from './wire.ts';

export type ChainWalk =
  | {
      kind: 'walked';
      /** Where the walk stopped: the owner of `records`, or the last CNAME target. */
      owner: string;
      records: RecordData[RecordType][];
      /** Smallest TTL of the CNAMEs and records used; Infinity when none were. */
      ttl: number;
    }
  /** A loop, a chain longer than allowed, or a CNAME target that is not a valid name. */
  | { kind: 'broken'; reason: string };

/**
 * Starting at `start`, returns the records of `type` at the end of the CNAME chain present
 * in `records`. `seen` holds every name of the chain so far, across replies, so a loop that
 * spans several queries is caught too; it is extended in place.
 */
export function walkChain(
  records: AnswerRecord[],
  start: string,
  type: RecordType,
  seen: Set<string>,
  maxChain: number,
): ChainWalk {
  let owner = start;
  let ttl = Number.POSITIVE_INFINITY;
  for (;;) {
    const wanted = records.filter((record) => record.owner === owner && record.type === type);
    if (wanted.length > 0) {
      for (const record of wanted) ttl = Math.min(ttl, record.ttl);
      return { kind: 'walked', owner, records: wanted.map((record) => record.data), ttl };
    }
    // A CNAME query is answered by the CNAME itself, never followed.
    const cname =
      type === 'CNAME'
        ? undefined
        : records.find((record) => record.owner === owner && record.type === 'CNAME');
    if (cname?.type !== 'CNAME') return { kind: 'walked', owner, records: [], ttl };
    let target: string;
    try {
      target = normaliseName(cname.data);
    } catch {
      return { kind: 'broken', reason: `invalid CNAME target at ${owner}` };
    }
    if (seen.has(target)) return { kind: 'broken', reason: `CNAME loop at ${target}` };
    // `seen` holds the start name plus one name per hop taken so far.
    if (seen.size > maxChain) return { kind: 'broken', reason: 'CNAME chain too long' };
    seen.add(target);
    ttl = Math.min(ttl, cname.ttl);
    owner = target;
  }
}
