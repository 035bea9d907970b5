import fs from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';

/**
 * What every `certmark` command shares: `--help`/`-h` prints its usage to stdout (exit 0),
 * `--version` prints the version (exit 0), and a usage error prints the message and the usage to
 * stderr (exit 2). Exit codes: 0 done/genuine, 1 a negative finding (forged, tampered), 2 usage or
 * I/O error.
 */
export const EXIT = { ok: 0, finding: 1, usage: 2 } as const;

export interface CommandIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

type Options = NonNullable<ParseArgsConfig['options']>;

const common = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const satisfies Options;

/** certmark's version, from its package.json (two levels up from src/cli/ and from dist/). */
export function cliVersion(): string {
  for (const relative of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(fs.readFileSync(new URL(relative, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'certmark' && pkg.version) return pkg.version;
    } catch {
      // not there: try the next place
    }
  }
  return 'unknown';
}

/**
 * Parses a command's arguments strictly, handling `--help`, `-h` and `--version` for it. Returns the
 * parsed values, or the exit code when the command is already answered (help, version, a usage
 * error).
 *
 * @example
 * const parsed = parseCommand(args, { usage, options: { json: { type: 'boolean' } } }, io);
 * if (parsed.exit !== undefined) return parsed.exit;
 */
export function parseCommand<const O extends Options>(
  args: string[],
  spec: { usage: string; options: O; positionals?: { min: number; max: number } },
  io: CommandIo,
) {
  const positionals = spec.positionals ?? { min: 0, max: 0 };
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { ...spec.options, ...common },
      allowPositionals: positionals.max > 0,
      strict: true,
    });
  } catch (error) {
    io.stderr(`${(error as Error).message}\n${spec.usage}`);
    return { exit: EXIT.usage };
  }
  const values = parsed.values as Record<string, unknown>;
  if (values.help) {
    io.stdout(spec.usage);
    return { exit: EXIT.ok };
  }
  if (values.version) {
    io.stdout(`certmark ${cliVersion()}\n`);
    return { exit: EXIT.ok };
  }
  const count = parsed.positionals.length;
  if (count < positionals.min || count > positionals.max) {
    io.stderr(spec.usage);
    return { exit: EXIT.usage };
  }
  return { values: parsed.values, positionals: parsed.positionals };
}
