import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** The offline verifier the CLI runs (pure, browser-safe): the page ships this very module. */
const ENTRY = fileURLToPath(new URL('../crypto/offline-mark.ts', import.meta.url));

let bundle: Promise<string> | undefined;

/**
 * `src/crypto/offline-mark.ts` built for a browser, once per process: a script defining the
 * global `certmarkOffline` (`verifyMarkOffline(input, jwks)`), about 50 KB minified. A failed build
 * is not remembered, so the next request tries again.
 */
export function offlineVerifierBundle(): Promise<string> {
  bundle ??= build({
    entryPoints: [ENTRY],
    bundle: true,
    format: 'iife',
    globalName: 'certmarkOffline',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    write: false,
    logLevel: 'silent',
  }).then(
    (result) => {
      const script = result.outputFiles[0]!.text;
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
