#!/usr/bin/env node
// `npx certmark …`: runs the TypeScript CLI through tsx (a runtime dependency), offline-capable.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../src/cli/main.ts');
process.exitCode = await runCli(process.argv.slice(2));
