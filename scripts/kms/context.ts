/**
 * What a command handler receives, and the helpers handlers share: reading the operator's inputs,
 * the service certificate and the governance session.
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { flag, type ParsedArgs } from "./args.ts";
import type { CommandSpec } from "./commands.ts";
import { type Connection, type Env, loadSigner, readNamedFile, resolveVoters } from "./config.ts";
import { CliError, exitCodes } from "./errors.ts";
import { createGovClient } from "../../ccf/gov/client.ts";
import type { Output } from "./output.ts";
import { parseJson, type Proposal } from "./proposals.ts";
import { type GovSession, proposeAndVote, workspaceLabels } from "./voting.ts";

/** The project root (where `deno task bundle` writes `dist/`). */
export const projectRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Everything a command handler may use. */
export interface Context {
  readonly command: CommandSpec;
  readonly args: ParsedArgs;
  readonly connection: Connection;
  readonly out: Output;
  readonly env: Env;
  /** The directory relative paths are resolved against (the operator's, not the task's). */
  readonly cwd: string;
  readonly readStdin: () => Promise<string>;
  /** Milliseconds since the epoch. */
  readonly clock: () => number;
}

/** A command handler: runs the command and returns the exit status. */
export type Handler = (ctx: Context) => Promise<number>;

/** Resolves a path the operator gave against their working directory. */
export const pathFrom = (ctx: Context, path: string): string => resolve(ctx.cwd, path);

/** Whether `path` is an existing file; a failure other than its absence is thrown. */
export const isFile = async (path: string): Promise<boolean> => {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
};

/** Reads an input the operator named: a file, or stdin for `-`. */
export const readInput = async (ctx: Context, path: string, what: string): Promise<string> =>
  path === "-" ? await ctx.readStdin() : await readNamedFile(pathFrom(ctx, path), what);

/** Reads and parses a JSON input (a file, or stdin for `-`). */
export const readJsonInput = async (ctx: Context, path: string, what: string): Promise<unknown> =>
  parseJson(await readInput(ctx, path, what), path === "-" ? "stdin" : path);

/** The service certificate (PEM). */
export const serviceCertOf = async (ctx: Context): Promise<string> => {
  let pem: string;
  try {
    pem = await readNamedFile(ctx.connection.serviceCertPath, "the service certificate");
  } catch (e) {
    throw new CliError(
      `${(e as Error).message} (start the sandbox, or give --workspace or --service-cert)`,
    );
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    throw new CliError(`${ctx.connection.serviceCertPath} is not a PEM certificate`);
  }
  return pem;
};

/** Runs `body` with a governance session, closing its HTTP client afterwards. */
export const withGovSession = async <A>(
  ctx: Context,
  body: (session: GovSession) => Promise<A>,
): Promise<A> => {
  const gov = createGovClient({
    url: ctx.connection.url,
    serviceCertPem: await serviceCertOf(ctx),
    clock: ctx.clock,
  });
  const labels = await workspaceLabels(ctx.connection.workspace);
  try {
    return await body({
      gov,
      out: ctx.out,
      signerOf: async (files) => {
        const signer = await loadSigner(files, ctx.out.addSecret);
        // A member found through the environment is still member0 of its workspace to the operator.
        return { ...signer, label: labels.get(signer.id) ?? signer.label };
      },
      labels,
    });
  } finally {
    gov.close();
  }
};

/**
 * Submits `proposal` as the operator's member and votes for it with `--vote-with` (or the proposer),
 * in `session` if the command has one open already; with `--dry-run`, prints it instead, touching
 * neither keys nor the network.
 */
export const submitProposal = async (
  ctx: Context,
  proposal: Proposal,
  session?: GovSession,
): Promise<number> => {
  if (flag(ctx.args, "dry-run")) {
    ctx.out.result(JSON.stringify(proposal, null, 2));
    return exitCodes.ok;
  }
  const submit = (s: GovSession) =>
    proposeAndVote(
      s,
      proposal,
      ctx.connection.member,
      resolveVoters(ctx.args, ctx.connection, ctx.command.name),
    );
  return await (session ? submit(session) : withGovSession(ctx, submit));
};
