import type { BuildOptions } from 'esbuild';

export declare const browserBundles: Record<string, { entry: string; globalName?: string }>;
export declare function browserBuildOptions(name: string, root: string): BuildOptions;
