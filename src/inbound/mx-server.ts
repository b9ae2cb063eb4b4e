// The bounce MX: an SMTP server for the bounce subdomains of known accounts. It offers
// STARTTLS, refuses every other domain at RCPT (so it is no open relay and no catch-all),
// and limits size, connections, rate and time so it cannot be used to fill the disk.

import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import {
  SMTPServer,
  type SMTPServerDataStream,
  type SMTPServerOptions,
  type SMTPServerSession,
} from 'smtp-server';
import type { Db } from '../store/database.ts';
import { accountsForBounceDomain } from '../store/inbound.repository.ts';
import type { InboundKind } from '../store/inbound.table.ts';
import type { BounceResult } from './apply-bounce.ts';
import { RateLimiter } from './rate-limit.ts';
import { type AcceptedRecipient, receiveMessage } from './receive.ts';
import { makeSelfSignedCertificate } from './self-signed-cert.ts';
import type { InboundConfig } from './settings.ts';
import { InboundStoreBudget } from './store-budget.ts';

/** The part of a pino logger the MX uses. */
export interface MxLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface InboundMxDeps {
  db: Db;
  /** Seals what is kept of received messages (src/secrets/sealed-content.ts). */
  masterKey: Buffer;
  config: InboundConfig;
  /** Our host name, in the greeting and the self-signed certificate. */
  hostname: string;
  logger?: MxLogger;
  now?: () => number;
  /** Called after a DSN made a recipient `bounced` (complete the message, notify). */
  onBounced?: (result: BounceResult & { recipientId: string }) => Promise<void>;
  /** Told how each accepted message was classified, per recipient address (metrics). */
  onReceived?: ((kinds: readonly InboundKind[]) => void) | undefined;
}

export interface RunningMx {
  port: number;
  /** The certificate presented on STARTTLS (PEM); tests trust it per connection. */
  certificatePem: string;
  close(): Promise<void>;
}

const SMTP_CLOSE_TIMEOUT_MS = 5000;
/** A full store is said once per interval, not once per message. */
const FULL_WARNING_INTERVAL_MS = 60_000;

/** What endSession() uses of smtp-server's connection objects (untyped in its types). */
interface SessionConnection {
  id: string;
  send(code: number, text: string, context: false): void;
  close(): void;
}

class MxReply extends Error {
  readonly responseCode: number;
  constructor(code: number, message: string) {
    super(message);
    this.responseCode = code;
  }
}

export async function startInboundMx(deps: InboundMxDeps): Promise<RunningMx> {
  const { config } = deps;
  const now = deps.now ?? Date.now;
  const logger = deps.logger;
  const tls = loadTls(config, deps.hostname, logger);
  const connections = new RateLimiter(config.connectionsPerMinute, now);
  const messages = new RateLimiter(config.messagesPerMinute, now);
  // Which accounts each accepted RCPT belongs to, per session.
  const accepted = new Map<string, AcceptedRecipient[]>();
  const onData = dataHandler(deps, accepted, keepWithinBudget(deps, now), now);
  // Open connections per remote address, and each counted session's address and time limit.
  const perAddress = new Map<string, number>();
  const counted = new Map<string, { address: string; timer: NodeJS.Timeout }>();

  const server = new SMTPServer({
    name: deps.hostname,
    banner: 'SecureMail bounce MX',
    secure: false,
    key: tls.keyPem,
    cert: tls.certPem,
    disabledCommands: ['AUTH'],
    authOptional: true,
    disableReverseLookup: true,
    size: config.maxMessageBytes,
    maxClients: config.maxConnections,
    socketTimeout: config.socketTimeoutMs,
    closeTimeout: SMTP_CLOSE_TIMEOUT_MS,
    logger: false,

    onConnect(session, callback) {
      const address = session.remoteAddress;
      const open = perAddress.get(address) ?? 0;
      if (open >= config.connectionsPerAddress || !connections.hit(address)) {
        callback(new MxReply(421, '4.7.0 Too many connections from your address, try later'));
        return;
      }
      perAddress.set(address, open + 1);
      const timer = setTimeout(() => endSession(session.id), config.sessionTimeoutMs);
      timer.unref();
      counted.set(session.id, { address, timer });
      accepted.set(session.id, []);
      callback();
    },

    onClose(session) {
      accepted.delete(session.id);
      uncount(session.id);
    },

    onMailFrom(_address, session, callback) {
      if (!messages.hit(session.remoteAddress)) {
        callback(new MxReply(450, '4.7.1 Too many messages from your address, slow down'));
        return;
      }
      // A new transaction on the same connection starts with no recipients.
      accepted.set(session.id, []);
      callback();
    },

    onRcptTo: rcptHandler(deps, accepted),
    onData,
  });
  /**
   * SECUREMAIL_MX_SESSION_TIMEOUT_SECONDS is up: 421 4.4.2 (RFC 3463: the connection timed
   * out) and close, whatever the client is doing; a message not yet answered 250 is the
   * sender's to retry.
   */
  function endSession(id: string): void {
    // Uncounted here too: a connection that closed before onConnect ran gets no onClose.
    uncount(id);
    for (const connection of server.connections as Set<SessionConnection>) {
      if (connection.id !== id) continue;
      connection.send(421, `4.4.2 ${deps.hostname} session time limit reached, closing`, false);
      connection.close();
      return;
    }
  }

  function uncount(id: string): void {
    const entry = counted.get(id);
    if (entry === undefined) return;
    counted.delete(id);
    clearTimeout(entry.timer);
    const open = (perAddress.get(entry.address) ?? 1) - 1;
    if (open > 0) perAddress.set(entry.address, open);
    else perAddress.delete(entry.address);
  }
  // A failure to listen is the caller's to report (once, with listenProblem's words); only
  // errors after that are connection errors.
  let listening = false;
  server.on('error', (error) => {
    if (listening) logger?.warn({ err: error }, 'bounce MX: connection error');
  });

  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.server.off('error', reject);
      listening = true;
      resolve();
    });
  });
  const port = (server.server.address() as AddressInfo).port;
  logger?.info({ host: config.host, port }, 'bounce MX listening');
  return {
    port,
    certificatePem: tls.certPem,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type Handlers = Required<Pick<SMTPServerOptions, 'onRcptTo' | 'onData'>>;

/**
 * Whether `bytes` more of a message may be kept (SECUREMAIL_MX_STORE_BYTES); a full store is
 * said once per interval, not once per message.
 */
function keepWithinBudget(
  deps: InboundMxDeps,
  now: () => number,
): (bytes: number) => Promise<boolean> {
  const budget = new InboundStoreBudget(deps.db, deps.config.storeBytes, now);
  let lastFullWarning: number | undefined;
  return async (bytes) => {
    if (await budget.take(bytes)) return true;
    const t = now();
    if (lastFullWarning === undefined || t - lastFullWarning >= FULL_WARNING_INTERVAL_MS) {
      lastFullWarning = t;
      deps.logger?.warn(
        { storeBytes: deps.config.storeBytes },
        'bounce MX: the inbound store is full (SECUREMAIL_MX_STORE_BYTES); received ' +
          'messages are still processed but their content is not kept',
      );
    }
    return false;
  };
}

/** RCPT: only bounce domains of known accounts, at most maxRecipients per message. */
function rcptHandler(
  deps: InboundMxDeps,
  accepted: Map<string, AcceptedRecipient[]>,
): Handlers['onRcptTo'] {
  const { config, db, logger } = deps;
  return function onRcptTo(address, session, callback) {
    const list = accepted.get(session.id) ?? [];
    if (list.length >= config.maxRecipients) {
      callback(new MxReply(452, '4.5.3 Too many recipients'));
      return;
    }
    const rcpt = address.address.toLowerCase();
    const domain = rcpt.slice(rcpt.lastIndexOf('@') + 1);
    accountsForBounceDomain(db, domain).then(
      (accounts) => {
        if (accounts.length === 0) {
          callback(new MxReply(550, '5.1.1 Relaying denied: not a bounce domain of this service'));
          return;
        }
        list.push({ address: rcpt, accountIds: accounts.map((a) => a.id) });
        accepted.set(session.id, list);
        callback();
      },
      (error: unknown) => {
        logger?.error({ err: error }, 'bounce MX: account lookup failed');
        callback(new MxReply(451, '4.3.0 Temporary failure, try again later'));
      },
    );
  };
}

/** DATA: read the message (within the size limit), then classify, apply and record it. */
function dataHandler(
  deps: InboundMxDeps,
  accepted: Map<string, AcceptedRecipient[]>,
  mayKeep: (bytes: number) => Promise<boolean>,
  now: () => number,
): Handlers['onData'] {
  const { config, db, logger } = deps;
  return function onData(stream, session, callback) {
    collect(stream, config.keepBytes, config.maxMessageBytes)
      .then(async ({ raw, size, oversized }) => {
        const recipients = accepted.get(session.id) ?? [];
        const results = await receiveMessage(
          db,
          {
            mailFrom: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
            recipients,
            remoteAddress: session.remoteAddress,
            helo: session.hostNameAppearsAs ?? '',
            raw,
            size,
            oversized,
            receivedAt: now(),
          },
          {
            masterKey: deps.masterKey,
            keepBytes: config.keepBytes,
            mayKeep,
            ...(deps.onBounced ? { onBounced: deps.onBounced } : {}),
          },
        );
        deps.onReceived?.(results.map((r) => r.kind));
        logger?.info(
          {
            remote: session.remoteAddress,
            size,
            results: results.map((r) => [r.kind, r.outcome]),
          },
          'bounce MX: message received',
        );
        if (oversized) {
          callback(
            new MxReply(552, `5.3.4 Message too big (limit ${config.maxMessageBytes} bytes)`),
          );
          return;
        }
        callback(null, `2.0.0 Accepted as ${results[0]?.id ?? 'nothing'}`);
      })
      .catch((error: unknown) => {
        logger?.error(
          { err: error, session: sessionInfo(session) },
          'bounce MX: processing failed',
        );
        // Temporary: the sender keeps the bounce and tries again, nothing is lost.
        callback(new MxReply(451, '4.3.0 Temporary failure, try again later'));
      });
  };
}

function sessionInfo(session: SMTPServerSession): object {
  return { id: session.id, remote: session.remoteAddress };
}

/**
 * Reads the DATA stream, keeping at most `keep` bytes when the message is over `limit`
 * (its head is enough to see what it was) and all of it otherwise. The stream is always
 * read to its end, as the SMTP dialogue requires.
 */
async function collect(
  stream: SMTPServerDataStream,
  keep: number,
  limit: number,
): Promise<{ raw: Buffer; size: number; oversized: boolean }> {
  const chunks: Buffer[] = [];
  let held = 0;
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (held < limit) {
      chunks.push(chunk);
      held += chunk.length;
    }
  }
  const oversized = stream.sizeExceeded || size > limit;
  const raw = Buffer.concat(chunks);
  return { raw: oversized ? raw.subarray(0, keep) : raw, size, oversized };
}

function loadTls(
  config: InboundConfig,
  hostname: string,
  logger: MxLogger | undefined,
): { certPem: string; keyPem: string } {
  if (config.tlsCert !== undefined && config.tlsKey !== undefined) {
    return { certPem: pemOrFile(config.tlsCert), keyPem: pemOrFile(config.tlsKey) };
  }
  logger?.warn(
    { hostname },
    'SECUREMAIL_MX_TLS_CERT/_KEY are not set: the bounce MX offers STARTTLS with a self-signed ' +
      'certificate made at start-up. Configure a certificate for the MX host names.',
  );
  return makeSelfSignedCertificate(hostname);
}

function pemOrFile(value: string): string {
  return value.startsWith('-----BEGIN') ? value : readFileSync(value, 'utf8');
}

/**
 * Why the bounce MX could not listen, in words an operator can act on: the port is taken
 * (by whom it may be), the process may not bind it, or the address is not this machine's.
 */
export function listenProblem(error: unknown, host: string, port: number): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const otherwise = 'set SECUREMAIL_MX_PORT to another port, or 0 to switch the bounce MX off';
  switch (code) {
    case 'EADDRINUSE':
      return `${where} is already in use by another process (another securemail, or a mail server such as Postfix on this machine): stop it, or ${otherwise}`;
    case 'EACCES':
      return `no permission to listen on ${where}: ports below 1024 need root or the CAP_NET_BIND_SERVICE capability (e.g. AmbientCapabilities=CAP_NET_BIND_SERVICE in a systemd unit); or ${otherwise}`;
    case 'EADDRNOTAVAIL':
      return `${host} is not an address of this machine: set SECUREMAIL_MX_HOST to one of its addresses (or 0.0.0.0), or ${otherwise}`;
    default:
      return `cannot listen on ${where} (${error instanceof Error ? error.message : String(error)}); ${otherwise}`;
  }
}
