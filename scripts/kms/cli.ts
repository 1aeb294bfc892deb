/**
 * `deno task kms`: parses the command line, runs the command and turns every failure into a
 * message and an exit status (0 done, 1 failed, 2 wrong usage). Streams, environment and working
 * directory are parameters so that tests can run the CLI in-process.
 */
import { appHandlers } from "./appCommands.ts";
import { commandHelp, commandNamed, overview, parseCommandLine } from "./commands.ts";
import { type Env, resolveConnection } from "./config.ts";
import type { Handler } from "./context.ts";
import { ServiceError } from "../../ccf/gov/errors.ts";
import { CliError, exitCodes, UsageError } from "./errors.ts";
import { govHandlers } from "./govCommands.ts";
import { createOutput, processStreams, type Streams } from "./output.ts";
import { policyHandlers } from "./policyCommands.ts";

/** Every command's handler, by name. */
export const handlers: Readonly<Record<string, Handler>> = {
  ...govHandlers,
  ...policyHandlers,
  ...appHandlers,
};

/** What the CLI reads from and writes to. */
export interface CliIo {
  readonly streams: Streams;
  readonly env: Env;
  /** The directory relative paths are resolved against. */
  readonly cwd: string;
  readonly readStdin: () => Promise<string>;
  /** Milliseconds since the epoch. */
  readonly clock: () => number;
}

const readProcessStdin = (): Promise<string> => new Response(Deno.stdin.readable).text();

/**
 * The process's streams and environment. `deno task` runs scripts in the project root and keeps the
 * operator's directory in `INIT_CWD`, which is where their relative paths point.
 */
export const processIo = (): CliIo => ({
  streams: processStreams,
  env: Deno.env.toObject(),
  cwd: Deno.env.get("INIT_CWD") || Deno.cwd(),
  readStdin: readProcessStdin,
  clock: Date.now,
});

/** Runs the CLI on `argv` and returns its exit status. */
export const runKms = async (argv: readonly string[], io: CliIo = processIo()): Promise<number> => {
  const out = createOutput(io.streams);
  let commandName: string | undefined;
  try {
    const invocation = parseCommandLine(argv);
    if (invocation.kind === "help") {
      out.result(invocation.command ? commandHelp(invocation.command) : overview());
      return exitCodes.ok;
    }
    const { command, args } = invocation;
    commandName = command.name;
    const connection = resolveConnection(args, io.env, io.cwd, command.name);
    return await handlers[command.name]({
      command,
      args,
      connection,
      out,
      env: io.env,
      cwd: io.cwd,
      readStdin: io.readStdin,
      clock: io.clock,
    });
  } catch (e) {
    if (e instanceof UsageError) {
      out.error(e.message);
      const command = e.command ?? commandName;
      out.note(
        command && commandNamed(command)
          ? `see: deno task kms ${command} --help`
          : "see: deno task kms --help",
      );
      return exitCodes.usage;
    }
    if (e instanceof CliError || e instanceof ServiceError) {
      out.error(e.message);
      return exitCodes.failed;
    }
    // A bug or an unforeseen failure: the message, not the stack, which may quote arguments.
    out.error(`unexpected failure: ${e instanceof Error ? e.message : String(e)}`);
    return exitCodes.failed;
  }
};
