// The sender: bulk POST /message over HTTP, a few requests in flight, the way a careful API
// client sends. It keeps exactly what the API promised: each 202 with its message id and
// recipients. A request cut off (connection reset by a kill), a 503 or a 500 is retried with
// the same body and Message-ID, which the API answers with the first result if it stored it
// (safe retries), so a message is never accepted twice and never silently dropped. 503s are
// counted with whether they carried Retry-After, which the client honours (capped, to keep
// the suite short).

import { randomBytes } from 'node:crypto';
import { sleep } from './wait.ts';
import { requestToken, SENDER_DOMAIN, type Sender } from './world.ts';

export interface Accepted {
  /** The API's message id. */
  id: string;
  messageIdHeader: string;
  recipients: string[];
}

export interface SubmitPlan {
  messages: number;
  recipientsPerMessage: number;
  recipientDomains: number;
  /** Requests in flight at once. */
  inFlight: number;
  /** Give up on what is not accepted by then. */
  deadlineMs: number;
  /** Each lane waits this long after a message, to spread the send over a fault (default 0). */
  paceMs?: number;
}

export interface Refusal {
  status: number;
  body: string;
}

const REQUEST_TIMEOUT_MS = 30_000;
/** The client honours Retry-After up to this long (the suite has minutes, not hours). */
const RETRY_AFTER_CAP_MS = 1000;
const RETRY_PAUSE_MS = 200;

export class Submitter {
  readonly accepted: Accepted[] = [];
  /** Status code -> answers, every try included. */
  readonly answers = new Map<number, number>();
  /** 503 answers, and how many of them had Retry-After. */
  unavailable = 0;
  unavailableWithRetryAfter = 0;
  /** 5xx other than 503: the API should never answer these for a database that is away. */
  serverErrors = 0;
  /** Tries that ended without an answer (connection refused or reset, timeout). */
  cutOff = 0;
  readonly refused: Refusal[] = [];
  /** Messages not accepted when the deadline passed. */
  gaveUp = 0;
  #next = 0;
  #authorization: string;
  readonly #url: string;
  readonly #sender: Sender;
  readonly #plan: SubmitPlan;
  readonly #tag = randomBytes(4).toString('hex');
  #paused = false;
  #aborted = false;
  #settled = 0;

  constructor(apiUrl: string, sender: Sender, plan: SubmitPlan) {
    this.#url = apiUrl;
    this.#sender = sender;
    this.#plan = plan;
    this.#authorization = sender.authorization;
  }

  get acceptedRecipients(): number {
    return this.accepted.reduce((n, a) => n + a.recipients.length, 0);
  }

  /** Every message of the plan is accepted, refused or given up on. */
  get finished(): boolean {
    return this.#settled >= this.#plan.messages;
  }

  get total(): number {
    return this.#plan.messages * this.#plan.recipientsPerMessage;
  }

  /** Stops starting new messages (requests in flight go on) until resume(). */
  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
  }

  /** Gives up on everything not accepted yet (a fault that already failed need not wait). */
  abort(): void {
    this.#aborted = true;
  }

  /** Sends every message of the plan; resolves when each is accepted, refused, or the deadline passed. */
  async run(): Promise<void> {
    const deadline = Date.now() + this.#plan.deadlineMs;
    const lanes = Array.from({ length: this.#plan.inFlight }, async () => {
      for (;;) {
        while (this.#paused && !this.#aborted && Date.now() < deadline) await sleep(50);
        const index = this.#next++;
        if (index >= this.#plan.messages) return;
        await this.#send(index, deadline);
        this.#settled++;
        if ((this.#plan.paceMs ?? 0) > 0) await sleep(this.#plan.paceMs!);
      }
    });
    await Promise.all(lanes);
  }

  async #send(index: number, deadline: number): Promise<void> {
    const { recipientsPerMessage, recipientDomains } = this.#plan;
    const recipients = Array.from(
      { length: recipientsPerMessage },
      (_, k) => `m${index}r${k}.${this.#tag}@d${(index + k) % recipientDomains}.test`,
    );
    const messageIdHeader = `chaos-${this.#tag}-${index}@${SENDER_DOMAIN}`;
    const body = JSON.stringify({
      sender: `news@${SENDER_DOMAIN}`,
      recipients,
      message: mime(index, messageIdHeader),
    });
    while (Date.now() < deadline && !this.#aborted) {
      let response: Response;
      try {
        response = await fetch(`${this.#url}/message`, {
          method: 'POST',
          headers: { authorization: this.#authorization, 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
      } catch {
        this.cutOff++;
        await sleep(RETRY_PAUSE_MS);
        continue;
      }
      const text = await response.text().catch(() => '');
      const status = response.status;
      this.answers.set(status, (this.answers.get(status) ?? 0) + 1);
      if (status === 202) {
        const answer = JSON.parse(text) as { id: string };
        this.accepted.push({ id: answer.id, messageIdHeader, recipients });
        return;
      }
      if (status === 503) {
        this.unavailable++;
        const retryAfter = response.headers.get('retry-after');
        if (retryAfter !== null) this.unavailableWithRetryAfter++;
        const seconds = Number(retryAfter ?? '1');
        await sleep(Math.min(RETRY_AFTER_CAP_MS, Number.isFinite(seconds) ? seconds * 1000 : 1000));
        continue;
      }
      if (status >= 500) {
        this.serverErrors++;
        await sleep(RETRY_PAUSE_MS);
        continue;
      }
      if (status === 401) {
        // A token is kept in the database; should it be gone, a new one is asked for.
        this.#authorization = await requestToken(
          this.#url,
          this.#sender.clientId,
          this.#sender.clientSecret,
        ).catch(() => this.#authorization);
        await sleep(RETRY_PAUSE_MS);
        continue;
      }
      if (status === 429) {
        await sleep(RETRY_AFTER_CAP_MS);
        continue;
      }
      this.refused.push({ status, body: text.slice(0, 300) });
      return;
    }
    this.gaveUp++;
  }

  /** One line: what the API answered. */
  summary(): string {
    const answers = [...this.answers.entries()]
      .sort(([a], [b]) => a - b)
      .map(([s, n]) => `${s}x${n}`)
      .join(' ');
    return `answers ${answers || 'none'}, cut off ${this.cutOff}, gave up ${this.gaveUp}`;
  }
}

function mime(index: number, messageIdHeader: string): string {
  const headers = [
    `From: Chaos shop <news@${SENDER_DOMAIN}>`,
    'To: customers@example.test',
    `Subject: Order update ${index}`,
    'Date: Sat, 28 Nov 2026 12:00:00 +0000',
    `Message-ID: <${messageIdHeader}>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
  ].join('\r\n');
  const line = 'Thank you for your order. It will be shipped within two working days.\r\n';
  return `${headers}\r\n\r\nHello,\r\n\r\n${line.repeat(12)}`;
}
