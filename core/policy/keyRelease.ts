/**
 * The key release policy: which attestation tokens may receive a private key.
 *
 * A policy is seed-compatible: `{claims: {<claim>: [allowed values]}, gte: {<claim>: n}, gt:
 * {<claim>: n}}` with dotted claim names into nested token objects (see ./claims.ts). A token
 * passes when it satisfies every rule; a denial lists every rule it failed.
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { decodeWith, maxPolicyVersion } from "../codec.ts";
import { type KmsError, policyDenied, type PolicyFailure } from "../errors.ts";
import { claimAt, claimType, type TokenClaims } from "./claims.ts";
import {
  type AllowedValue,
  type ClaimRules,
  parseClaimRules,
  parseThresholds,
  type Thresholds,
} from "./rules.ts";
import {
  allOf,
  codecFrom,
  isJsonObject,
  type Parsed,
  problem,
  render,
  unknownFields,
} from "./validation.ts";

/** A key release policy in normalised form; every map is present, possibly empty. */
export interface KeyReleasePolicy {
  /** Per claim, the values a token may have; the claim must match one of them. */
  readonly claims: ClaimRules;
  /** Per claim, the number the token's value must be greater than or equal to. */
  readonly gte: Thresholds;
  /** Per claim, the number the token's value must be strictly greater than. */
  readonly gt: Thresholds;
}

/** The policy as stored in the KV: each accepted change increments `version`. */
export interface StoredKeyReleasePolicy {
  readonly version: number;
  readonly policy: KeyReleasePolicy;
}

/** The stored policy before any change: version 0, no rules, so every key release is denied. */
export const emptyStoredPolicy: StoredKeyReleasePolicy = {
  version: 0,
  policy: { claims: {}, gte: {}, gt: {} },
};

const isVersion = (u: unknown): u is number =>
  typeof u === "number" && Number.isInteger(u) && u >= 0 &&
  u <= maxPolicyVersion;

const parsePolicy = (u: unknown): Parsed<KeyReleasePolicy> => {
  if (!isJsonObject(u)) return problem("policy must be an object");
  const claims = parseClaimRules(u.claims, false);
  const gte = parseThresholds("gte", u.gte);
  const gt = parseThresholds("gt", u.gt);
  return allOf([
    unknownFields(u, ["claims", "gte", "gt"], "policy"),
    claims,
    gte,
    gt,
  ], () => ({
    claims: E.isRight(claims) ? claims.right : {},
    gte: E.isRight(gte) ? gte.right : {},
    gt: E.isRight(gt) ? gt.right : {},
  }));
};

const parseStored = (u: unknown): Parsed<StoredKeyReleasePolicy> => {
  if (!isJsonObject(u)) return problem("stored policy must be an object");
  const policy = parsePolicy(u.policy);
  return allOf([
    unknownFields(u, ["version", "policy"], "stored policy"),
    isVersion(u.version) ? E.right(u.version) : problem(
      `version must be an integer from 0 to ${maxPolicyVersion}`,
    ),
    policy,
  ], () => ({
    version: u.version as number,
    policy: E.isRight(policy) ? policy.right : emptyStoredPolicy.policy,
  }));
};

/**
 * Codec of the stored policy (the KV value): `{version, policy: {claims, gte?, gt?}}`. Claim names
 * and value types are checked against the catalogue, seed forms are normalised (see ./rules.ts),
 * sizes are bounded by `limits` of ./rules.ts, and every claim lists at least one allowed value.
 */
export const StoredKeyReleasePolicyCodec = codecFrom<StoredKeyReleasePolicy>(
  "StoredKeyReleasePolicy",
  parseStored,
);

/** Decodes a stored policy read from the KV; problems become InvalidInput. */
export const decodeStoredPolicy: (
  u: unknown,
) => E.Either<KmsError, StoredKeyReleasePolicy> = decodeWith(
  StoredKeyReleasePolicyCodec,
  "stored key release policy",
);

/** A release decision: the token satisfied all `rulesChecked` rules of the policy. */
export interface Release {
  readonly rulesChecked: number;
}

// Token values compare by JSON type: "22" is not 22, and neither satisfies the other's rule.
const satisfies = (actual: unknown, allowed: AllowedValue): boolean =>
  Array.isArray(allowed)
    ? Array.isArray(actual) && allowed.every((x) => actual.includes(x))
    : actual === allowed;

// JSON has no undefined, so a missing claim is reported as null (the message says "missing").
const reported = (actual: unknown): unknown => actual === undefined ? null : actual;

/** One rule of a policy checked against a token: a {@link PolicyFailure} with its verdict. */
export interface RuleResult extends PolicyFailure {
  /** Whether the token satisfies the rule. */
  readonly passed: boolean;
}

const claimResults = (rules: ClaimRules, token: TokenClaims): RuleResult[] =>
  Object.entries(rules).map(([claim, allowed]) => {
    const actual = claimAt(token, claim);
    return {
      claim,
      rule: "claims" as const,
      expected: allowed,
      actual: reported(actual),
      passed: allowed.some((v) => satisfies(actual, v)),
    };
  });

const thresholdResults = (
  rule: "gte" | "gt",
  rules: Thresholds,
  token: TokenClaims,
): RuleResult[] =>
  Object.entries(rules).map(([claim, threshold]) => {
    const actual = claimAt(token, claim);
    return {
      claim,
      rule,
      expected: threshold,
      actual: reported(actual),
      passed: typeof actual === "number" &&
        (rule === "gte" ? actual >= threshold : actual > threshold),
    };
  });

/**
 * Every rule of `policy` checked against `token`, in the policy's order (claims, gte, gt): what
 * {@link evaluate} decides from, and what an explanation shows.
 */
export const ruleResults = (policy: KeyReleasePolicy, token: TokenClaims): RuleResult[] => [
  ...claimResults(policy.claims, token),
  ...thresholdResults("gte", policy.gte, token),
  ...thresholdResults("gt", policy.gt, token),
];

const describeFailure = (f: PolicyFailure): string => {
  const is = f.actual === null ? "is missing or null" : `is ${render(f.actual)}`;
  switch (f.rule) {
    case "claims":
      return `${f.claim} must ${
        claimType(f.claim) === "number[]" ? "contain every element of" : "be"
      } one of ${render(f.expected)} but ${is}`;
    case "gte":
      return `${f.claim} must be a number >= ${f.expected} but ${is}`;
    case "gt":
      return `${f.claim} must be a number > ${f.expected} but ${is}`;
  }
};

const ruleCount = (policy: KeyReleasePolicy): number =>
  Object.keys(policy.claims).length + Object.keys(policy.gte).length +
  Object.keys(policy.gt).length;

/**
 * Evaluates a policy against decoded token claims.
 *
 * - `claims`: the token's value at the claim's path must satisfy one allowed value: equal with the
 *   same JSON type for scalars; for an array value, the token's value must be an array containing
 *   every element of it.
 * - `gte` / `gt`: the token's value must be a number (not a numeral string) `>=` / `>` the
 *   threshold. Both are enforced independently.
 *
 * Releases when every rule holds. Otherwise denies with one PolicyFailure per failed rule
 * (`actual` is null when the claim is missing). A policy with no rules denies everything: no key
 * release policy is set. Evaluation is monotone: more allowed values never deny a released token,
 * more rules never release a denied one.
 */
export const evaluate = (
  policy: KeyReleasePolicy,
  token: TokenClaims,
): E.Either<KmsError, Release> => {
  const rulesChecked = ruleCount(policy);
  if (rulesChecked === 0) {
    return E.left(policyDenied(
      "no key release policy is set: members must propose one (set_key_release_policy) before any key can be released",
      [],
    ));
  }
  const failures: PolicyFailure[] = ruleResults(policy, token).flatMap((
    { passed, ...failure },
  ) => passed ? [] : [failure]);
  return pipe(
    failures,
    E.fromPredicate(
      (fs) => fs.length === 0,
      (fs) =>
        policyDenied(
          `the attestation token does not satisfy the key release policy: ${
            fs.map(describeFailure).join("; ")
          }`,
          fs,
        ),
    ),
    E.map(() => ({ rulesChecked })),
  );
};
