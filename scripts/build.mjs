// `npm run build`: the service, the CLI and the mark-signing worker compiled to dist/ as ES modules
// for plain `node` (packages stay in node_modules), the scripts served to browsers bundled once,
// and the files the service reads at run time (migrations) copied beside them. dist/ is then all
// a deployment needs besides package.json and `npm ci --omit=dev`.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { browserBuildOptions, browserBundles } from '../src/web/browser-bundles.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');

fs.rmSync(dist, { recursive: true, force: true });

const node = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
  absWorkingDir: root,
};

await Promise.all([
  build({ ...node, entryPoints: { main: 'src/main.ts', cli: 'src/cli/bin.ts' }, outdir: dist }),
  // Beside main.js under the name the pool asks for (src/marks/mark-signer-pool.ts).
  build({
    ...node,
    entryPoints: ['src/marks/mark-signer.worker.ts'],
    outfile: path.join(dist, 'mark-signer.worker.mjs'),
  }),
  // The scripts served to browsers: the offline verifier (GET /verify/offline inlines it) and the
  // supervisor console's charts, with the options the sources use (src/web/browser-bundles.mjs).
  ...Object.keys(browserBundles).map((name) =>
    build({ ...browserBuildOptions(name, root), outfile: path.join(dist, `${name}.js`) }),
  ),
]);

fs.cpSync(path.join(root, 'migrations'), path.join(dist, 'migrations'), { recursive: true });
// GET /docs serves Scalar's standalone bundle from here (src/http/api-reference.routes.ts), so
// production needs neither a CDN nor the development dependency it comes from.
const scalarEntry = createRequire(import.meta.url).resolve('@scalar/api-reference');
fs.copyFileSync(
  path.join(path.dirname(scalarEntry), 'browser/standalone.js'),
  path.join(dist, 'scalar-api-reference.js'),
);

const files = fs.readdirSync(dist).filter((name) => !name.endsWith('.map'));
process.stdout.write(`built dist/: ${files.join(', ')}\n`);
