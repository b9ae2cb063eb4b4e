// Can the service listen where it is told to? The doctor binds the port for a moment and lets
// it go. A port in use may be the running service itself: the bounce MX greets with its
// banner and the API answers /healthz, so that case is told apart from another program.
// Port 25 needs root or CAP_NET_BIND_SERVICE, the most common surprise of a first start.

import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import { type Finding, fail, info, ok } from './finding.ts';

/** The bounce MX's greeting (src/inbound/mx-server.ts). */
const MX_BANNER = 'SecureMail bounce MX';
const PROBE_TIMEOUT_MS = 2000;

type Bind = 'free' | 'in-use' | 'denied' | 'no-address' | { error: string };

async function tryBind(host: string, port: number): Promise<Bind> {
  const server = createServer();
  try {
    server.listen(port, host);
    await once(server, 'listening');
    return 'free';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') return 'in-use';
    if (code === 'EACCES' || code === 'EPERM') return 'denied';
    if (code === 'EADDRNOTAVAIL') return 'no-address';
    return { error: (error as Error).message };
  } finally {
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Where to reach a listener bound to `host` (a wildcard address is reached on loopback). */
const reachable = (host: string) =>
  host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;

/** The first bytes a server says (an SMTP greeting), or undefined. */
async function greeting(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: reachable(host), port });
    const done = (text: string | undefined) => {
      socket.destroy();
      resolve(text);
    };
    socket.setTimeout(PROBE_TIMEOUT_MS, () => done(undefined));
    socket.once('data', (chunk: Buffer) => done(chunk.toString('latin1').split('\r\n')[0]));
    socket.once('error', () => done(undefined));
  });
}

/** Whether a SecureMail API answers /healthz there. */
async function isOurApi(host: string, port: number): Promise<boolean> {
  const where = reachable(host);
  const url = `http://${where.includes(':') ? `[${where}]` : where}:${port}/healthz`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    return response.ok && response.headers.has('api-version');
  } catch {
    return false;
  }
}

export async function checkMxPort(host: string, port: number, enabled: boolean): Promise<Finding> {
  const check = 'mx-port';
  if (!enabled)
    return info(check, 'SECUREMAIL_MX_PORT is 0: the bounce MX is off in this configuration');
  const where = `${host}:${port}`;
  const bind = await tryBind(host, port);
  if (bind === 'free') return ok(check, `the bounce MX can listen on ${where}`);
  if (bind === 'in-use') {
    const banner = await greeting(host, port);
    if (banner?.includes(MX_BANNER))
      return ok(check, `${where} is in use by a running SecureMail bounce MX (${banner})`);
    return fail(
      check,
      `${where} is in use by another program${banner ? ` (it says "${banner}")` : ''}`,
      'stop that program (e.g. a local MTA on port 25), or set SECUREMAIL_MX_PORT (0 switches the bounce MX off)',
    );
  }
  return notBindable(check, where, port, bind, 'SECUREMAIL_MX_PORT', 'SECUREMAIL_MX_HOST');
}

export async function checkHttpPort(host: string, port: number): Promise<Finding> {
  const check = 'http-port';
  if (port === 0) return info(check, 'SECUREMAIL_HTTP_PORT is 0: the API takes any free port');
  const where = `${host}:${port}`;
  const bind = await tryBind(host, port);
  if (bind === 'free') return ok(check, `the API can listen on ${where}`);
  if (bind === 'in-use') {
    if (await isOurApi(host, port))
      return ok(check, `${where} is in use by a running SecureMail API`);
    return fail(
      check,
      `${where} is in use by another program`,
      'stop it, or set SECUREMAIL_HTTP_PORT',
    );
  }
  return notBindable(check, where, port, bind, 'SECUREMAIL_HTTP_PORT', 'SECUREMAIL_HTTP_HOST');
}

function notBindable(
  check: string,
  where: string,
  port: number,
  bind: Exclude<Bind, 'free' | 'in-use'>,
  portVariable: string,
  hostVariable: string,
): Finding {
  if (bind === 'denied') {
    return fail(
      check,
      `not allowed to listen on ${where}${port < 1024 ? ': ports below 1024 need root or CAP_NET_BIND_SERVICE' : ''}`,
      port < 1024
        ? 'give node the capability (systemd: AmbientCapabilities=CAP_NET_BIND_SERVICE; or ' +
            `setcap cap_net_bind_service=+ep on the node binary), or set ${portVariable} above 1023 ` +
            'and forward the port to it'
        : `set ${portVariable} to a port this user may use`,
    );
  }
  if (bind === 'no-address')
    return fail(
      check,
      `${where}: not an address of this machine`,
      `set ${hostVariable} to one of its addresses`,
    );
  return fail(
    check,
    `cannot listen on ${where}: ${bind.error}`,
    `check ${hostVariable} and ${portVariable}`,
  );
}
