import { runCli } from './main';

// The command's entry: `bin/certmark.js` runs its compiled form (dist/cli.js), tests its source.
process.exitCode = await runCli(process.argv.slice(2));
