// Worker entry: the service runs TypeScript through tsx, whose loader a worker thread does not
// inherit on Node 20, so the worker registers it before loading the signing module.
import { register } from 'tsx/esm/api';

register();
await import('./mark-signer.worker.ts');
