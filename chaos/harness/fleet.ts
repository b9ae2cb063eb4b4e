// The processes of one fault: on SQLite one `serve --roles api,worker` (one writer), on
// PostgreSQL an api process and several worker processes sharing the database, as the README
// tells operators to scale. Each has a fixed port (the API's, or a worker's metrics port for
// its health) so a restarted process is found where it was.

import path from 'node:path';
import { freePort, ServiceProcess } from './service.ts';

export interface Member {
  name: string;
  roles: 'api,worker' | 'api' | 'worker';
}

export class Fleet {
  readonly members: ServiceProcess[];
  readonly apiUrl: string;

  private constructor(members: ServiceProcess[], apiUrl: string) {
    this.members = members;
    this.apiUrl = apiUrl;
  }

  /** Ports are chosen here; nothing is started yet. */
  static async plan(
    layout: readonly Member[],
    env: Record<string, string>,
    logDir: string,
  ): Promise<Fleet> {
    let apiUrl = '';
    const members: ServiceProcess[] = [];
    for (const m of layout) {
      const port = await freePort();
      const api = m.roles.includes('api');
      const own: Record<string, string> = api
        ? { SECUREMAIL_HTTP_HOST: '127.0.0.1', SECUREMAIL_HTTP_PORT: String(port) }
        : { SECUREMAIL_METRICS_HOST: '127.0.0.1', SECUREMAIL_METRICS_PORT: String(port) };
      if (api) apiUrl = `http://127.0.0.1:${port}`;
      members.push(
        new ServiceProcess({
          name: m.name,
          roles: m.roles,
          env: { ...env, ...own },
          healthUrl: `http://127.0.0.1:${port}/${api ? 'healthz' : 'metrics'}`,
          logDir: path.resolve(logDir),
        }),
      );
    }
    if (apiUrl === '') throw new Error('a fleet needs a process with the api role');
    return new Fleet(members, apiUrl);
  }

  /** Starts every member at once (they share nothing but the database, migrated by the CLI before). */
  async start(): Promise<void> {
    await Promise.all(this.members.map((m) => m.start()));
  }

  /** The members that deliver (the worker role). */
  get workers(): ServiceProcess[] {
    return this.members.filter((m) => m.spec.roles.includes('worker'));
  }

  random(): ServiceProcess {
    return this.members[Math.floor(Math.random() * this.members.length)]!;
  }

  /** Peak resident memory of the largest member, MiB. */
  peakRssMiB(): number {
    for (const m of this.members) m.sample();
    return Math.max(...this.members.map((m) => m.peakRssKiB)) / 1024;
  }

  /** Exits nobody asked for, e.g. `worker-2 exited 1 (see worker-2-3.log)`. */
  crashes(): string[] {
    return this.members.flatMap((m) =>
      m.exits
        .filter((e) => !e.expected)
        .map((e) => `${m.name} exited ${e.signal ?? e.code} (see ${m.name}-${m.starts}.log)`),
    );
  }

  /** SIGTERM to every member (the graceful stop), SIGKILL to those that take too long. */
  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => m.stop()));
  }
}
