import type { Fault } from '../types.ts';

export const fault: Fault = {
  name: 'disk-full',
  describe: 'todo',
  async run() {
    return [];
  },
};
