import type { Fault } from '../types.ts';

export const fault: Fault = {
  name: 'pg-restart',
  describe: 'todo',
  async run() {
    return [];
  },
};
