/**
 * What the browser's offline verifier is: the one entry point bundled for `/verify/offline`, by
 * `npm run build` (scripts/build.mjs) and, from the sources, by ./offline-verifier.ts. The page's
 * script calls `certmarkOffline.readOfflineBundle`, `verifyOffline` and `formatAge`; the CLI runs
 * the same modules (`certmark verify`).
 */
export {
  formatAge,
  readOfflineBundle,
  verifyMarkOffline,
  verifyOffline,
} from '../verification/offline-verification';
