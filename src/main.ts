// The entry point of `securemail` and `npm start`: the only place that reads process.env
// and process.argv.

import { runCli } from './cli/cli.ts';

process.exitCode = await runCli(process.argv.slice(2), process.env);
