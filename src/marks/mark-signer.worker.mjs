// Worker entry when the sources run (tsx, tests): a worker thread does not inherit tsx's loader on
// Node 20, so it registers it before loading the signing module. `npm run build` puts the compiled
// worker under this same name beside dist/main.js.
import { register } from 'tsx/esm/api';

register();
await import('./mark-signer.worker.ts');
