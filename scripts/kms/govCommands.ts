/**
 * The commands about governance itself: deploying the app, the constitution, and proposals and
 * ballots in general.
 */
import { join } from "node:path";
import { flag, stringOption } from "./args.ts";
import { resolveVoters } from "./config.ts";
import { appendKmsActions } from "./constitution.ts";
import {
  type Context,
  type Handler,
  isFile,
  pathFrom,
  projectRoot,
  readJsonInput,
  submitProposal,
  withGovSession,
} from "./context.ts";
import { CliError, exitCodes, UsageError } from "./errors.ts";
import { checkProposal, setConstitutionProposal, setJsAppProposal } from "./proposals.ts";
import { showProposal, voteOn, withdrawProposal } from "./voting.ts";

/** CCF's default maximum request body: larger proposals need a network configured for them. */
const defaultMaxBodyBytes = 1024 * 1024;

const distOf = (ctx: Context): string => {
  const dist = stringOption(ctx.args, "dist");
  return dist === undefined ? join(projectRoot, "dist") : pathFrom(ctx, dist);
};

/** Builds the bundle into `dist` when `--build` asks for it or `needed` is missing there. */
const ensureBuilt = async (ctx: Context, dist: string, needed: string): Promise<void> => {
  if (!flag(ctx.args, "build") && await isFile(join(dist, needed))) return;
  ctx.out.progress(`building the KMS bundle into ${dist} (deno task bundle)`);
  // esbuild is loaded only when a build is needed: every other command starts faster without it.
  const { buildBundle } = await import("../bundle.ts");
  try {
    await buildBundle(dist);
  } catch (e) {
    throw new CliError(`building the bundle failed: ${(e as Error).message}`);
  }
};

const readDistFile = async (path: string): Promise<string> => {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new CliError(`cannot read ${path}: ${(e as Error).message} (rebuild with --build)`);
  }
};

const deploy: Handler = async (ctx) => {
  const dist = distOf(ctx);
  await ensureBuilt(ctx, dist, "bundle.json");
  const path = join(dist, "bundle.json");
  let bundle: unknown;
  try {
    bundle = JSON.parse(await readDistFile(path));
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`${path} is not JSON: rebuild it with --build`);
  }
  const proposal = setJsAppProposal(bundle);
  const size = JSON.stringify(proposal).length;
  if (size > defaultMaxBodyBytes) {
    ctx.out.warn(
      `the set_js_app proposal is ${size} bytes, over CCF's default 1 MB request limit`,
    );
  }
  return await submitProposal(ctx, proposal);
};

const constitution: Handler = async (ctx) => {
  if (!flag(ctx.args, "add-kms-actions")) {
    const extra = ["build", "dist", "vote-with", "dry-run"].filter((o) => o in ctx.args.options);
    if (extra.length > 0) {
      throw new UsageError(
        `${extra.map((o) => `--${o}`).join(", ")} only go with --add-kms-actions`,
        "constitution",
      );
    }
    const current = await withGovSession(ctx, (session) => session.gov.getConstitution());
    ctx.out.result(current.replace(/\n$/, ""));
    return exitCodes.ok;
  }
  const dist = distOf(ctx);
  await ensureBuilt(ctx, dist, "constitution/kms_actions.js");
  const actions = await readDistFile(join(dist, "constitution", "kms_actions.js"));
  return await withGovSession(ctx, async (session) => {
    ctx.out.progress("reading the constitution in force");
    const outcome = appendKmsActions(await session.gov.getConstitution(), actions);
    if (outcome.kind === "present") {
      ctx.out.result("the constitution already holds these KMS actions: nothing to propose");
      return exitCodes.ok;
    }
    ctx.out.progress(
      outcome.kind === "appended"
        ? "appending the KMS actions"
        : "replacing the KMS actions of an earlier build",
    );
    return await submitProposal(ctx, setConstitutionProposal(outcome.constitution), session);
  });
};

const propose: Handler = async (ctx) => {
  const [path] = ctx.args.positionals;
  const proposal = checkProposal(
    await readJsonInput(ctx, path, "the proposal"),
    path === "-" ? "stdin" : path,
  );
  return await submitProposal(ctx, proposal);
};

const vote: Handler = (ctx) =>
  withGovSession(ctx, (session) =>
    voteOn(
      session,
      ctx.args.positionals[0],
      resolveVoters(ctx.args, ctx.connection, "vote"),
      !flag(ctx.args, "reject"),
    ));

const withdraw: Handler = (ctx) =>
  withGovSession(
    ctx,
    (session) => withdrawProposal(session, ctx.args.positionals[0], ctx.connection.member),
  );

const proposal: Handler = (ctx) =>
  withGovSession(
    ctx,
    (session) => showProposal(session, ctx.args.positionals[0], flag(ctx.args, "json")),
  );

/** The governance commands' handlers, by command name. */
export const govHandlers: Readonly<Record<string, Handler>> = {
  deploy,
  constitution,
  propose,
  vote,
  withdraw,
  proposal,
};
