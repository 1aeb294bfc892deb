/**
 * The commands that change what the KMS enforces: trusted token issuers, the key release policy,
 * the settings and the rotation policy. Each builds one proposal and runs the voting flow.
 */
import { flag, stringOption } from "./args.ts";
import { type Context, type Handler, readJsonInput, submitProposal } from "./context.ts";
import { defaultIdpUrl, demoIssuer } from "./demo.ts";
import { CliError, UsageError } from "./errors.ts";
import { jsonOf, send } from "../../ccf/gov/http.ts";
import {
  type ChangeType,
  checkJwks,
  keyReleaseProposal,
  rotationProposal,
  settingsProposal,
  trustIssuerProposal,
} from "./proposals.ts";

const sourceName = (path: string): string => path === "-" ? "stdin" : path;

/** GETs JSON from the demo issuer, which speaks plain HTTP on loopback. */
const fetchDemoJson = async (url: string, what: string): Promise<unknown> => {
  const client = Deno.createHttpClient({});
  try {
    const answer = await send(client, url);
    const json = jsonOf(answer);
    if (answer.status !== 200 || json === undefined) {
      throw new CliError(`${what} at ${url} answered ${answer.status}, not JSON`);
    }
    return json;
  } finally {
    client.close();
  }
};

const demoJwks = async (ctx: Context, issuer: string): Promise<unknown> => {
  const given = stringOption(ctx.args, "idp-url") ?? defaultIdpUrl;
  if (!URL.canParse(given)) {
    throw new UsageError(`--idp-url must be a URL, not ${given}`, "trust-issuer");
  }
  const base = given.replace(/\/+$/, "");
  ctx.out.progress(`fetching the demo issuer's JWKS from ${base}/keys`);
  const config = await fetchDemoJson(`${base}/.well-known/openid-configuration`, "the demo issuer");
  const served = (config as { issuer?: unknown }).issuer;
  if (typeof served === "string" && served !== issuer) {
    throw new CliError(
      `the demo issuer at ${base} signs tokens as ${served}, not ${issuer}: trust ${served}, or ` +
        `restart it with --issuer ${issuer}`,
    );
  }
  return await fetchDemoJson(`${base}/keys`, "the demo issuer's JWKS");
};

const trustIssuer: Handler = async (ctx) => {
  const jwksPath = stringOption(ctx.args, "jwks");
  const demo = flag(ctx.args, "demo");
  if ((jwksPath === undefined) === !demo) {
    throw new UsageError(
      "give the issuer's keys with --jwks FILE or --demo (one of them)",
      "trust-issuer",
    );
  }
  if (!demo && stringOption(ctx.args, "idp-url") !== undefined) {
    throw new UsageError("--idp-url goes with --demo", "trust-issuer");
  }
  const issuer = ctx.args.positionals[0] ?? (demo ? demoIssuer : undefined);
  if (issuer === undefined) {
    throw new UsageError("missing <issuer> (the tokens' iss)", "trust-issuer");
  }
  const raw = jwksPath === undefined
    ? await demoJwks(ctx, issuer)
    : await readJsonInput(ctx, jwksPath, "the JWKS");
  const { jwks, warnings } = checkJwks(
    raw,
    jwksPath === undefined ? "the demo JWKS" : sourceName(jwksPath),
  );
  for (const warning of warnings) ctx.out.warn(warning);
  return await submitProposal(ctx, trustIssuerProposal(issuer, jwks));
};

const policy: Handler = async (ctx) => {
  const [type, path] = ctx.args.positionals;
  if (type !== "add" && type !== "remove") {
    throw new UsageError(`the first argument must be add or remove, not ${type}`, "policy");
  }
  const file = await readJsonInput(ctx, path, "the key release policy change");
  return await submitProposal(ctx, keyReleaseProposal(type as ChangeType, file, sourceName(path)));
};

const settings: Handler = async (ctx) => {
  const [path] = ctx.args.positionals;
  const file = await readJsonInput(ctx, path, "the settings policy");
  return await submitProposal(ctx, settingsProposal(file, sourceName(path)));
};

const rotation: Handler = async (ctx) => {
  const [path] = ctx.args.positionals;
  const file = await readJsonInput(ctx, path, "the key rotation policy");
  return await submitProposal(ctx, rotationProposal(file, sourceName(path)));
};

/** The policy commands' handlers, by command name. */
export const policyHandlers: Readonly<Record<string, Handler>> = {
  "trust-issuer": trustIssuer,
  policy,
  settings,
  rotation,
};
