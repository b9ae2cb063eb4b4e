import type { Fault } from '../types.ts';
export const fault: Fault = { name: 'slow-clients', describe: 'todo', run: async () => [] };
