/**
 * The CLI's two kinds of failure. Both carry a message meant for the operator, which must never
 * contain secret material (tokens, private keys): callers build it from names and public values.
 */

/** The command line is wrong: exit status 2, and the operator is pointed at the help. */
export class UsageError extends Error {
  /** The command whose help applies, if one was recognised. */
  readonly command?: string;
  constructor(message: string, command?: string) {
    super(message);
    this.name = "UsageError";
    this.command = command;
  }
}

/** The operation failed (unreachable service, refused proposal, bad file, ...): exit status 1. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CliError";
  }
}

/** Exit statuses of `deno task kms`. */
export const exitCodes = { ok: 0, failed: 1, usage: 2 } as const;
