#!/usr/bin/env node
// `npx certmark …`: the compiled command line (dist/cli.js, made by `npm run build`). In a source
// checkout not built yet, the sources run through tsx (a development dependency).
import fs from 'node:fs';

const compiled = new URL('../dist/cli.js', import.meta.url);
if (fs.existsSync(compiled)) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api').catch(() => {
    process.stderr.write('certmark: not built; run `npm run build` first\n');
    process.exit(2);
  });
  register();
  await import('../src/cli/bin.ts');
}
