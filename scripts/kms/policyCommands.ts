/**
 * The commands that change what the KMS enforces: trusted token issuers, the key release policy,
 * the settings and the rotation policy. Each builds one proposal and runs the voting flow; a key
 * release policy change can instead be tried on a token first (`--explain`).
 */
import * as E from "fp-ts/lib/Either.js";
import { base64urlnopad } from "@scure/base";
import { type TokenClaims, TokenClaimsCodec } from "../../core/policy/claims.ts";
import { policyActions } from "../../core/policy/governance.ts";
import {
  decodeStoredPolicy,
  evaluate,
  ruleResults,
  type StoredKeyReleasePolicy,
} from "../../core/policy/keyRelease.ts";
import { createTlsClient, expectJson, jsonOf, send } from "../../ccf/gov/http.ts";
import { flag, stringOption } from "./args.ts";
import {
  type Context,
  type Handler,
  readInput,
  readJsonInput,
  serviceCertOf,
  submitProposal,
} from "./context.ts";
import { defaultIdpUrl, demoIssuer } from "./demo.ts";
import { CliError, exitCodes, UsageError } from "./errors.ts";
import {
  type ChangeType,
  checkCaBundle,
  type CheckedJwks,
  checkJwks,
  defaultBundleName,
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

/** Which of trust-issuer's ways of giving keys the options ask for; usage errors otherwise. */
const trustIssuerMode = (ctx: Context) => {
  const jwksPath = stringOption(ctx.args, "jwks");
  const demo = flag(ctx.args, "demo");
  const autoRefresh = flag(ctx.args, "auto-refresh");
  const bundlePath = stringOption(ctx.args, "ca-cert-bundle");
  const usage = (message: string) => new UsageError(message, "trust-issuer");
  if (autoRefresh) {
    if (demo) {
      throw usage(
        "--auto-refresh fetches the keys from <issuer> itself: it does not go with --demo",
      );
    }
    if (bundlePath === undefined) {
      throw usage(
        "--auto-refresh needs --ca-cert-bundle FILE: the CAs of the issuer's TLS certificate",
      );
    }
  } else {
    if (bundlePath !== undefined || stringOption(ctx.args, "ca-cert-bundle-name") !== undefined) {
      throw usage("--ca-cert-bundle and --ca-cert-bundle-name go with --auto-refresh");
    }
    if ((jwksPath === undefined) === !demo) {
      throw usage(
        "give the issuer's keys with --jwks FILE, --demo or --auto-refresh (one of them)",
      );
    }
  }
  if (!demo && stringOption(ctx.args, "idp-url") !== undefined) {
    throw usage("--idp-url goes with --demo");
  }
  const issuer = ctx.args.positionals[0] ?? (demo ? demoIssuer : undefined);
  if (issuer === undefined) throw usage("missing <issuer> (the tokens' iss)");
  return { issuer, jwksPath, demo, bundlePath };
};

const trustIssuer: Handler = async (ctx) => {
  const { issuer, jwksPath, demo, bundlePath } = trustIssuerMode(ctx);
  let jwks: CheckedJwks["jwks"] | undefined;
  if (jwksPath !== undefined || demo) {
    const raw = jwksPath === undefined
      ? await demoJwks(ctx, issuer)
      : await readJsonInput(ctx, jwksPath, "the JWKS");
    const checked = checkJwks(raw, jwksPath === undefined ? "the demo JWKS" : sourceName(jwksPath));
    for (const warning of checked.warnings) ctx.out.warn(warning);
    jwks = checked.jwks;
  }
  const autoRefresh = bundlePath === undefined ? undefined : {
    bundleName: stringOption(ctx.args, "ca-cert-bundle-name") ?? defaultBundleName(issuer),
    bundlePem: checkCaBundle(
      await readInput(ctx, bundlePath, "the CA bundle"),
      sourceName(bundlePath),
    ),
  };
  return await submitProposal(ctx, trustIssuerProposal(issuer, jwks, autoRefresh));
};

/** A token's claims, read without checking its signature: a dry run decides nothing. */
const claimsOf = (token: string): TokenClaims => {
  const payload = token.split(".")[1] ?? "";
  let decoded: unknown;
  try {
    decoded = JSON.parse(new TextDecoder().decode(base64urlnopad.decode(payload)));
  } catch {
    throw new CliError("--explain needs a JWT: its payload is not base64url JSON");
  }
  const claims = TokenClaimsCodec.decode(decoded);
  if (E.isLeft(claims)) throw new CliError("--explain: the token's payload is not a claims object");
  return claims.right;
};

/** How a stored policy treats `claims`: its version, its verdict and every rule. */
const judged = (stored: StoredKeyReleasePolicy, claims: TokenClaims) => ({
  version: stored.version,
  releases: E.isRight(evaluate(stored.policy, claims)),
  rules: ruleResults(stored.policy, claims),
});

/**
 * `policy add|remove FILE --explain TOKEN`: the change applied to the policy in force, and how
 * the token fares under both, computed here with the KMS's own rules; nothing is proposed.
 */
const explainChange = async (ctx: Context, args: unknown, token: string): Promise<number> => {
  ctx.out.addSecret(token);
  const claims = claimsOf(token);
  const client = createTlsClient(await serviceCertOf(ctx));
  let current: StoredKeyReleasePolicy;
  try {
    const answer = await send(client, `${ctx.connection.url}/app/keyReleasePolicy`);
    const decoded = decodeStoredPolicy(expectJson(answer, "reading the key release policy"));
    if (E.isLeft(decoded)) throw new CliError(`the policy in force: ${decoded.left.message}`);
    current = decoded.right;
  } finally {
    client.close();
  }
  const proposed = policyActions.set_key_release_policy.transition(current, args);
  if (E.isLeft(proposed)) throw new CliError(proposed.left.message);
  const result = {
    current: judged(current, claims),
    proposed: judged(proposed.right as StoredKeyReleasePolicy, claims),
  };
  if (flag(ctx.args, "json")) {
    ctx.out.result(JSON.stringify(result, null, 2));
    return exitCodes.ok;
  }
  ctx.out.result("dry run: nothing is proposed; the token's signature is not checked");
  for (const [name, j] of Object.entries(result)) {
    ctx.out.result(
      `${name} policy (version ${j.version}): the token's claims ${
        j.releases ? "satisfy it" : "do not satisfy it"
      }`,
    );
  }
  for (const r of result.proposed.rules) {
    ctx.out.result(
      `${r.passed ? "pass" : "FAIL"}  ${r.rule} ${r.claim}: expected ${
        JSON.stringify(r.expected)
      }, ` +
        `token has ${JSON.stringify(r.actual)}`,
    );
  }
  return exitCodes.ok;
};

const policy: Handler = async (ctx) => {
  const [type, path] = ctx.args.positionals;
  if (type !== "add" && type !== "remove") {
    throw new UsageError(`the first argument must be add or remove, not ${type}`, "policy");
  }
  const file = await readJsonInput(ctx, path, "the key release policy change");
  const proposal = keyReleaseProposal(type as ChangeType, file, sourceName(path));
  const token = stringOption(ctx.args, "explain");
  return token === undefined
    ? await submitProposal(ctx, proposal)
    : await explainChange(ctx, proposal.actions[0].args, token);
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
