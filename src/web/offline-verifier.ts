import fs from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { runtimeFile } from '../shared/runtime-files';

/** The offline verifier's one entry point (scripts/build.mjs bundles the same file). */
const ENTRY = new URL('./offline-verifier.entry.ts', import.meta.url);

let bundle: Promise<string> | undefined;

/**
 * `src/web/offline-verifier.entry.ts` built for a browser: a script defining the global
 * `certmarkOffline` (`readOfflineBundle`, `verifyOffline`, `formatAge`, `verifyMarkOffline`). The compiled service reads the bundle
 * `npm run build` made (dist/offline-verifier.js); from the sources it is built once per process
 * with esbuild, a development dependency. A failed read or build is not remembered, so the next
 * request tries again.
 */
export function offlineVerifierBundle(): Promise<string> {
  bundle ??= loadBundle().then(
    (script) => {
      // Inlined into a page: a closing tag in it would end the script element early.
      if (/<\/script/i.test(script))
        throw new Error('the offline verifier bundle contains </script');
      return script;
    },
    (error: unknown) => {
      bundle = undefined;
      throw error;
    },
  );
  return bundle;
}

async function loadBundle(): Promise<string> {
  const built = runtimeFile('offline-verifier.js');
  if (built) return fs.readFile(built, 'utf8');
  // Same options as scripts/build.mjs.
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [fileURLToPath(ENTRY)],
    bundle: true,
    format: 'iife',
    globalName: 'certmarkOffline',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}
