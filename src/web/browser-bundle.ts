import fs from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { runtimeFile } from '../shared/runtime-files';
import { browserBuildOptions } from './browser-bundles.mjs';

const bundles = new Map<string, Promise<string>>();

/**
 * A script of ./browser-bundles.mjs, built for a browser. The compiled service reads the bundle
 * `npm run build` made (dist/<name>.js); from the sources it is built once per process with
 * esbuild, a development dependency, with the same options. A failed read or build is not
 * remembered, so the next request tries again.
 */
export function browserBundle(name: string): Promise<string> {
  let bundle = bundles.get(name);
  if (!bundle) {
    bundle = loadBundle(name).catch((error: unknown) => {
      bundles.delete(name);
      throw error;
    });
    bundles.set(name, bundle);
  }
  return bundle;
}

async function loadBundle(name: string): Promise<string> {
  const built = runtimeFile(`${name}.js`);
  if (built) return fs.readFile(built, 'utf8');
  const { build } = await import('esbuild');
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const result = await build({
    ...browserBuildOptions(name, root),
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles![0]!.text;
}
