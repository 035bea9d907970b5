/**
 * The `certmark` command line. Each subcommand lives in its own module and returns an exit code.
 */
const usage = `usage:
  certmark verify <mark-code-or-url> --jwks <file>   check a mark offline (signature and issuer)
  certmark audit verify --url <base-url>             recompute the audit log's Merkle tree and check it
`;

export async function runCli(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'verify': {
      const { runVerifyCommand } = await import('./verify');
      return runVerifyCommand(rest);
    }
    case 'audit': {
      const { runAuditCommand } = await import('./audit');
      return runAuditCommand(rest);
    }
    default:
      process.stderr.write(usage);
      return command === undefined || command === '--help' ? 0 : 2;
  }
}
