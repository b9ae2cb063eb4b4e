// A `securemail serve` child process, as an operator runs it: spawned with an environment,
// waited for until healthy, SIGKILLed or stopped, restarted with the same settings (same
// port, same database). Its output goes to a log file per start in the fault's work dir. Its
// peak resident memory is sampled from /proc/<pid>/status (VmHWM, the kernel's own high-water
// mark) while it runs and right before it is killed.

import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { onCleanup } from './cleanup.ts';
import { waitUntil } from './wait.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = path.join(REPO_ROOT, 'src', 'main.ts');
const SAMPLE_MS = 250;
/** A cold start (type stripping of the whole service, migrations) takes 1-2 s here; loaded, more. */
export const START_DEADLINE_MS = 30_000;

export interface ServiceSpec {
  /** For logs and notes: `api`, `worker-1`, `service`. */
  name: string;
  /** `--roles` of `serve`. */
  roles: string;
  env: Record<string, string>;
  /** Answers 200 once the process is up: /healthz of the API, or /metrics of a worker. */
  healthUrl: string;
  logDir: string;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Killed or stopped by the suite; an unexpected exit is a crash. */
  expected: boolean;
}

export class ServiceProcess {
  readonly spec: ServiceSpec;
  readonly exits: Exit[] = [];
  starts = 0;
  kills = 0;
  peakRssKiB = 0;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #expectExit = false;
  #sampler: NodeJS.Timeout | undefined;
  #forget: (() => Promise<void>) | undefined;

  constructor(spec: ServiceSpec) {
    this.spec = spec;
  }

  get name(): string {
    return this.spec.name;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get running(): boolean {
    const c = this.#child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  /** Exits the suite did not cause (crashes). */
  get crashes(): number {
    return this.exits.filter((e) => !e.expected).length;
  }

  get logFile(): string {
    return path.join(this.spec.logDir, `${this.spec.name}-${this.starts}.log`);
  }

  /** Spawns the process (it must not be running) and waits until it answers its health URL. */
  async start(): Promise<void> {
    if (this.running) throw new Error(`${this.name} is already running`);
    this.starts++;
    const fd = openSync(this.logFile, 'a');
    const args = [MAIN, 'serve', '--roles', this.spec.roles];
    const child = spawn(process.execPath, args, {
      cwd: REPO_ROOT,
      env: this.spec.env,
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    this.#child = child;
    this.#expectExit = false;
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exits.push({ code, signal, expected: this.#expectExit });
        resolve();
      });
    });
    this.#forget = onCleanup(`${this.name} (pid ${child.pid})`, {
      sync: () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      },
    });
    this.#sampler ??= setInterval(() => this.sample(), SAMPLE_MS);
    await this.waitHealthy();
  }

  async waitHealthy(timeoutMs = START_DEADLINE_MS): Promise<void> {
    await waitUntil(
      async () => {
        if (!this.running) {
          throw new Error(`${this.name} exited while starting: ${this.tail()}`);
        }
        try {
          const response = await fetch(this.spec.healthUrl, { signal: AbortSignal.timeout(2000) });
          await response.arrayBuffer();
          return response.status === 200;
        } catch {
          return false;
        }
      },
      timeoutMs,
      () => `${this.name} did not answer ${this.spec.healthUrl}: ${this.tail()}`,
      100,
    );
  }

  /** SIGKILL: no shutdown handler runs, claims stay as they are, transactions are cut off. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.sample();
    this.#expectExit = true;
    this.kills++;
    this.#child!.kill('SIGKILL');
    await this.#exited;
    await this.#forget?.();
  }

  /** SIGTERM (the graceful stop), SIGKILL after `timeoutMs`. */
  async stop(timeoutMs = 15_000): Promise<void> {
    if (this.running) {
      this.sample();
      this.#expectExit = true;
      this.#child!.kill('SIGTERM');
      const timer = setTimeout(() => this.#child?.kill('SIGKILL'), timeoutMs);
      await this.#exited;
      clearTimeout(timer);
    }
    await this.#forget?.();
    if (this.#sampler !== undefined) clearInterval(this.#sampler);
    this.#sampler = undefined;
  }

  /** Killed and started again at once, as a supervisor (systemd, Kubernetes) would. */
  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }

  /** Reads VmHWM of the running process into peakRssKiB. */
  sample(): void {
    const pid = this.pid;
    if (pid === undefined || !this.running) return;
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const match = /VmHWM:\s+(\d+) kB/.exec(status);
      if (match !== null) this.peakRssKiB = Math.max(this.peakRssKiB, Number(match[1]));
    } catch {
      // the process is gone between the check and the read
    }
  }

  /** The last lines of the current log, each cut short, for errors. */
  tail(lines = 6): string {
    try {
      const text = readFileSync(this.logFile, 'utf8').trimEnd();
      const last = text.split('\n').slice(-lines);
      return (
        last.map((l) => (l.length > 240 ? `${l.slice(0, 240)}...` : l)).join(' | ') || '(no output)'
      );
    } catch {
      return '(no log)';
    }
  }
}

/** A TCP port free on 127.0.0.1 now (the service keeps it across restarts). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address.port;
}

/** Runs `node src/main.ts <args>` (a CLI command) to its end; its stdout. */
export async function runCli(
  args: string[],
  env: Record<string, string>,
  timeoutMs = START_DEADLINE_MS,
): Promise<string> {
  const child = spawn(process.execPath, [MAIN, ...args], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  if (code !== 0) {
    throw new Error(`securemail ${args.join(' ')} exited ${code}: ${err.slice(-1500)}`);
  }
  return out;
}
