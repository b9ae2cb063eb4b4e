// Every fault of the suite, in the order the table shows them. A new fault is one import and
// one entry here, and a row in docs/reliability.md's fault table (test/chaos/registry.test.ts).

import type { Fault } from '../types.ts';
import { fault as diskFull } from './disk-full.ts';
import { fault as dnsOutage } from './dns-outage.ts';
import { fault as kill } from './kill.ts';
import { fault as largeMessage } from './large-message.ts';
import { fault as pgRestart } from './pg-restart.ts';
import { serverDrop, serverStall } from './server-faults.ts';
import { fault as slowClients } from './slow-clients.ts';

export const FAULTS: readonly Fault[] = [
  kill,
  pgRestart,
  diskFull,
  dnsOutage,
  serverDrop,
  serverStall,
  slowClients,
  largeMessage,
];
