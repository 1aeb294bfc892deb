/** Runs `deno task kms` in-process with captured output. */
import { runKms } from "../../../scripts/kms/cli.ts";
import type { Env } from "../../../scripts/kms/config.ts";

/** What a run printed and returned. */
export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI with `argv`, an empty environment unless given, in `cwd`. */
export const runCli = async (
  argv: readonly string[],
  options: { env?: Env; cwd?: string; stdin?: string; clock?: () => number } = {},
): Promise<Run> => {
  const stdout: string[] = [], stderr: string[] = [];
  const code = await runKms(argv, {
    streams: { stdout: (l) => stdout.push(l), stderr: (l) => stderr.push(l) },
    env: options.env ?? {},
    cwd: options.cwd ?? Deno.cwd(),
    readStdin: () => Promise.resolve(options.stdin ?? ""),
    clock: options.clock ?? Date.now,
  });
  return { code, stdout: stdout.join("\n"), stderr: stderr.join("\n") };
};
