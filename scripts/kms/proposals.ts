/**
 * The proposals the CLI submits, built from the operator's files as pure functions, so that the
 * exact JSON each command signs can be checked without a service.
 *
 * The KMS's own arguments are decoded here with the same core codecs the constitution runs, so a
 * malformed file fails before anything is signed; the service checks again in `validate`. What is
 * proposed is the operator's argument as written (unwrapped from the seed's file forms), so the
 * ledger shows what was asked for; the stored policy is the service's normalised one.
 */
import * as E from "fp-ts/lib/Either.js";
import { X509Certificate } from "node:crypto";
import type { KmsError } from "../../core/errors.ts";
import { decodeJwtValidationArgs } from "../../core/attestation/jwtValidation.ts";
import { decodeKeyReleaseChange } from "../../core/policy/keyReleaseChange.ts";
import { decodeRotationArgs } from "../../core/policy/rotation.ts";
import { decodeSettingsArgs } from "../../core/policy/settings.ts";
import { CliError } from "./errors.ts";

/** One governance action. */
export interface Action {
  readonly name: string;
  readonly args?: unknown;
}

/** A governance proposal. */
export interface Proposal {
  readonly actions: readonly Action[];
}

/** A JSON object. */
type JsonObject = Record<string, unknown>;

const isObject = (u: unknown): u is JsonObject =>
  typeof u === "object" && u !== null && !Array.isArray(u);

/** Parses a JSON file's text; `source` names it in the error. */
export const parseJson = (text: string, source: string): unknown => {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CliError(`${source} is not JSON: ${(e as Error).message}`);
  }
};

const orFail = <A>(source: string, result: E.Either<KmsError, A>): void => {
  if (E.isLeft(result)) throw new CliError(`${source}: ${result.left.message}`);
};

/** The `set_js_app` proposal for a bundle (the content of `dist/bundle.json`). */
export const setJsAppProposal = (bundle: unknown): Proposal => {
  if (!isObject(bundle) || !isObject(bundle.metadata) || !Array.isArray(bundle.modules)) {
    throw new CliError("the bundle must be {metadata, modules}: rebuild it with --build");
  }
  return { actions: [{ name: "set_js_app", args: { bundle, disable_bytecode_cache: false } }] };
};

/** The `set_constitution` proposal. */
export const setConstitutionProposal = (constitution: string): Proposal => ({
  actions: [{ name: "set_constitution", args: { constitution } }],
});

/**
 * Checks that `u` is a full proposal `{"actions": [{"name", "args"?}, ...]}`, pointing operators
 * who hand over a bare argument at the command that wraps it.
 */
export const checkProposal = (u: unknown, source: string): Proposal => {
  if (!isObject(u) || !("actions" in u)) {
    const hint = isObject(u) && ("claims" in u || "keyReleaseClaims" in u)
      ? "; for a key release policy change use `deno task kms policy add|remove`"
      : isObject(u) && "settings_policy" in u
      ? "; use `deno task kms settings`"
      : isObject(u) && "key_rotation_policy" in u
      ? "; use `deno task kms rotation`"
      : "";
    throw new CliError(`${source} is not a proposal {"actions": [...]}${hint}`);
  }
  const extra = Object.keys(u).filter((k) => k !== "actions");
  if (extra.length > 0) throw new CliError(`${source}: unexpected field(s) ${extra.join(", ")}`);
  const actions = u.actions;
  if (!Array.isArray(actions) || actions.length === 0) {
    throw new CliError(`${source}: actions must be a non-empty list`);
  }
  actions.forEach((a, i) => {
    if (!isObject(a) || typeof a.name !== "string" || a.name === "") {
      throw new CliError(`${source}: actions[${i}] must be {"name": <string>, "args": ...}`);
    }
    const unknown = Object.keys(a).filter((k) => k !== "name" && k !== "args");
    if (unknown.length > 0) {
      throw new CliError(`${source}: actions[${i}] has unexpected field(s) ${unknown.join(", ")}`);
    }
  });
  return { actions: actions as Action[] };
};

/** Whether a key release policy change adds or removes rules. */
export type ChangeType = "add" | "remove";

/**
 * The `set_key_release_policy` argument from a policy file: bare `{claims, gte?, gt?}` (with an
 * optional `type` that must be `type`), or the seed's `{claimType, keyReleaseClaims}`.
 */
export const keyReleaseArgs = (type: ChangeType, file: unknown, source: string): JsonObject => {
  if (!isObject(file)) throw new CliError(`${source} must hold a JSON object`);
  const seedForm = "keyReleaseClaims" in file;
  const given = seedForm ? file.claimType : file.type;
  if (given !== undefined && given !== type) {
    throw new CliError(
      `${source} is a change of type ${JSON.stringify(given)}, not ${type}: use ` +
        `\`deno task kms policy ${typeof given === "string" ? given : "add|remove"}\``,
    );
  }
  let body: JsonObject;
  if (seedForm) {
    const extra = Object.keys(file).filter((k) => k !== "claimType" && k !== "keyReleaseClaims");
    if (extra.length > 0) throw new CliError(`${source}: unexpected field(s) ${extra.join(", ")}`);
    if (!isObject(file.keyReleaseClaims)) {
      throw new CliError(`${source}: keyReleaseClaims must be {claims, gte?, gt?}`);
    }
    body = file.keyReleaseClaims;
  } else {
    const { type: _type, ...rest } = file;
    body = rest;
  }
  const args = { type, ...body };
  orFail(source, decodeKeyReleaseChange(args));
  return args;
};

/** The `set_key_release_policy` proposal. */
export const keyReleaseProposal = (type: ChangeType, file: unknown, source: string): Proposal => ({
  actions: [{ name: "set_key_release_policy", args: keyReleaseArgs(type, file, source) }],
});

/** The `set_settings_policy` proposal: the file is its argument, or the bare `{service}`. */
export const settingsProposal = (file: unknown, source: string): Proposal => {
  if (!isObject(file)) throw new CliError(`${source} must hold a JSON object`);
  const args = "settings_policy" in file ? file : { settings_policy: file };
  orFail(source, decodeSettingsArgs(args));
  return { actions: [{ name: "set_settings_policy", args }] };
};

/** The `set_key_rotation_policy` proposal: the file is its argument, or the bare policy. */
export const rotationProposal = (file: unknown, source: string): Proposal => {
  if (!isObject(file)) throw new CliError(`${source} must hold a JSON object`);
  const args = "key_rotation_policy" in file ? file : { key_rotation_policy: file };
  orFail(source, decodeRotationArgs(args));
  return { actions: [{ name: "set_key_rotation_policy", args }] };
};

/** JWK members that hold private key material: such a key must never reach the public ledger. */
const privateMembers = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
/** Most keys accepted in one JWKS. */
export const maxJwksKeys = 64;

/** A checked JWKS, and what an operator should know about it. */
export interface CheckedJwks {
  readonly jwks: { readonly keys: readonly JsonObject[] };
  readonly warnings: readonly string[];
}

/**
 * Checks a JWKS for `set_jwt_issuer`: public keys only, each with a distinct `kid` and key material
 * CCF can read (`x5c`, RSA `n`/`e` or EC `x`/`y`/`crv`). CCF 5 reads `x5c` only, hence a warning.
 */
export const checkJwks = (u: unknown, source: string): CheckedJwks => {
  if (!isObject(u) || !Array.isArray(u.keys)) {
    throw new CliError(`${source} is not a JWKS {"keys": [...]}`);
  }
  const keys = u.keys;
  if (keys.length === 0 || keys.length > maxJwksKeys) {
    throw new CliError(`${source} must hold 1 to ${maxJwksKeys} keys, not ${keys.length}`);
  }
  const warnings: string[] = [];
  const kids = new Set<string>();
  keys.forEach((key, i) => {
    const where = `${source}: keys[${i}]`;
    if (!isObject(key)) throw new CliError(`${where} is not a JWK object`);
    const secret = privateMembers.filter((m) => m in key);
    if (secret.length > 0) {
      throw new CliError(
        `${where} holds private key material (${secret.join(", ")}): give public keys only`,
      );
    }
    if (typeof key.kid !== "string" || key.kid === "") {
      throw new CliError(`${where} has no kid: CCF finds a token's key by its kid`);
    }
    if (kids.has(key.kid)) throw new CliError(`${where} repeats the kid ${key.kid}`);
    kids.add(key.kid);
    const hasX5c = Array.isArray(key.x5c) && key.x5c.length > 0 &&
      key.x5c.every((c) => typeof c === "string" && c !== "");
    const hasRsa = typeof key.n === "string" && typeof key.e === "string";
    const hasEc = typeof key.x === "string" && typeof key.y === "string" &&
      typeof key.crv === "string";
    if (!hasX5c && !hasRsa && !hasEc) {
      throw new CliError(`${where} (kid ${key.kid}) has no x5c, n/e or x/y/crv`);
    }
    if (!hasX5c) {
      warnings.push(`key ${key.kid} has no x5c: CCF 5 accepts only keys with a certificate`);
    }
  });
  return { jwks: { keys: keys as JsonObject[] }, warnings };
};

/** Most certificates accepted in one CA bundle. */
export const maxBundleCertificates = 64;

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * Checks a CA bundle for `set_ca_cert_bundle`: PEM certificates only, each of which parses; the
 * bundle is proposed as written.
 */
export const checkCaBundle = (pem: string, source: string): string => {
  const blocks = pem.match(CERTIFICATE_BLOCK) ?? [];
  if (blocks.length === 0 || blocks.length > maxBundleCertificates) {
    throw new CliError(
      `${source} must hold 1 to ${maxBundleCertificates} PEM certificates, not ${blocks.length}`,
    );
  }
  if (/PRIVATE KEY-----/.test(pem)) {
    throw new CliError(`${source} holds a private key: give the CA certificates only`);
  }
  blocks.forEach((block, i) => {
    try {
      new X509Certificate(block);
    } catch (e) {
      throw new CliError(`${source}: certificate ${i + 1} does not parse: ${(e as Error).message}`);
    }
  });
  return pem;
};

/** CCF's automatic key refresh of an issuer: its TLS is checked against this CA bundle. */
export interface AutoRefresh {
  readonly bundleName: string;
  readonly bundlePem: string;
}

/**
 * The name a CA bundle gets unless the operator names it: one per issuer host, so that trusting
 * another issuer does not replace this one's CAs.
 */
export const defaultBundleName = (issuer: string): string =>
  `jwt_issuer_${URL.canParse(issuer) ? new URL(issuer).host : issuer}`;

/** CCF fetches `<issuer>/.well-known/openid-configuration`: the issuer must be such a URL. */
const checkRefreshableIssuer = (issuer: string): void => {
  if (!/^https:\/\/[^?#]+$/.test(issuer) || !URL.canParse(issuer)) {
    throw new CliError(
      `--auto-refresh needs an issuer that is an https URL without query or fragment, where ` +
        `CCF finds /.well-known/openid-configuration, not ${JSON.stringify(issuer)}`,
    );
  }
};

/**
 * Trusting an issuer in one proposal: its keys (`set_jwt_issuer`, with `key_filter: "all"`, which
 * CCF 5's default constitution requires and later ones ignore) and the validation policy that makes
 * the KMS check the token's `iss` (CCF does not). With `autoRefresh`, the CA bundle comes first
 * (`set_ca_cert_bundle`) and CCF keeps the keys current itself (`auto_refresh`), so `jwks` is
 * optional: CCF fetches the keys as soon as the proposal is applied.
 */
export const trustIssuerProposal = (
  issuer: string,
  jwks: CheckedJwks["jwks"] | undefined,
  autoRefresh?: AutoRefresh,
): Proposal => {
  if (issuer === "" || issuer.length > 1024 || /\s/.test(issuer)) {
    throw new CliError(
      `the issuer must be a name without spaces, such as a URL, not ${JSON.stringify(issuer)}`,
    );
  }
  if (autoRefresh) checkRefreshableIssuer(issuer);
  else if (jwks === undefined) throw new CliError("without --auto-refresh the issuer needs keys");
  const validation = { issuer, validation_policy: { iss: issuer } };
  orFail("the validation policy", decodeJwtValidationArgs(validation));
  const refresh = autoRefresh
    ? { auto_refresh: true, ca_cert_bundle_name: autoRefresh.bundleName }
    : {};
  return {
    actions: [
      ...(autoRefresh
        ? [{
          name: "set_ca_cert_bundle",
          args: { name: autoRefresh.bundleName, cert_bundle: autoRefresh.bundlePem },
        }]
        : []),
      {
        name: "set_jwt_issuer",
        args: { issuer, key_filter: "all", ...refresh, ...(jwks ? { jwks } : {}) },
      },
      { name: "set_jwt_validation_policy", args: validation },
    ],
  };
};

/** The action names of a proposal, for progress lines. */
export const describeProposal = (proposal: Proposal): string =>
  proposal.actions.map((a) => a.name).join(", ");
