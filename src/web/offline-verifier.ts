import { browserBundle } from './browser-bundle';

/**
 * `src/web/offline-verifier.entry.ts` built for a browser (./browser-bundles.mjs): a script
 * defining the global `certmarkOffline` (`readOfflineBundle`, `verifyOffline`, `formatAge`,
 * `verifyMarkOffline`), which GET /verify/offline inlines so a saved copy works offline.
 */
export async function offlineVerifierBundle(): Promise<string> {
  const script = await browserBundle('offline-verifier');
  // Inlined into a page: a closing tag in it would end the script element early.
  if (/<\/script/i.test(script)) throw new Error('the offline verifier bundle contains </script');
  return script;
}
