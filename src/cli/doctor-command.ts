import type { Config } from '../config.ts';
export async function runDoctorCommand(_args: string[], _config: Config): Promise<number> {
  return 0;
}
