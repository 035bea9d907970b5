import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Where a file or folder the service reads at run time is: beside the compiled bundle in dist/
 * (`npm run build` copies it there), else at the repository root when the sources run under tsx.
 * Undefined when neither has it.
 *
 * @example runtimeFile('migrations') // …/dist/migrations, or …/migrations from src/
 */
export function runtimeFile(name: string): string | undefined {
  // Bundled, import.meta.url is dist/main.js; from the sources it is this file in src/shared/.
  for (const candidate of [
    new URL(name, import.meta.url),
    new URL(`../../${name}`, import.meta.url),
  ]) {
    const file = fileURLToPath(candidate);
    if (fs.existsSync(file)) return file;
  }
  return undefined;
}
