import { EXIT, cliVersion, type CommandIo } from './command';

/**
 * The `certmark` command line. Each subcommand lives in its own module and returns an exit code;
 * every command answers `--help`/`-h` and `--version` (./command.ts).
 */
const usage = `usage: certmark <command> [options]

commands:
  verify <mark-or-credential> --bundle <file>        check a mark or certificate credential offline
                                                    (signature, status bits, dates, status age)
  verify <mark-code-or-url> --jwks <file-or-url>   check a mark offline (signature and issuer)
  bundle --url <base-url> [--out <file>]           save the service's offline bundle
  audit verify --url <base-url>                     recompute the audit log's Merkle tree and check it

options:
  -h, --help     this help (also after a command: certmark verify --help)
  --version      certmark's version

exit codes: 0 genuine / intact, 1 forged / tampered / invalid, 2 usage or network error,
3 status unknown (verify --bundle: the bundle is too old or does not cover it)
`;

const defaultIo: CommandIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

export async function runCli(argv: string[], io: CommandIo = defaultIo): Promise<number> {
  try {
    return await runCommand(argv, io);
  } catch (error) {
    // What no command foresaw (an answer nested past the stack's depth, say) is still one line
    // and the usage-or-network exit code, never a stack trace.
    io.stderr(`certmark: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT.usage;
  }
}

async function runCommand(argv: string[], io: CommandIo): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'verify': {
      const { runVerifyCommand } = await import('./verify');
      return runVerifyCommand(rest);
    }
    case 'bundle': {
      const { runBundleCommand } = await import('./bundle');
      return runBundleCommand(rest);
    }
    case 'audit': {
      const { runAuditCommand } = await import('./audit');
      return runAuditCommand(rest);
    }
    case '--help':
    case '-h':
    case 'help':
      io.stdout(usage);
      return EXIT.ok;
    case '--version':
      io.stdout(`certmark ${cliVersion()}\n`);
      return EXIT.ok;
    default:
      io.stderr(command === undefined ? usage : `unknown command: ${command}\n${usage}`);
      return EXIT.usage;
  }
}
