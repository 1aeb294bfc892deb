/**
 * Governance changes to the key release policy: the argument of the `set_key_release_policy`
 * proposal, `{type: "add" | "remove", claims, gte?, gt?}` as in the seed, and its merge into the
 * stored policy.
 *
 * - `add` merges allowed values into each claim's list (no duplicates; arrays compare by
 *   elements) and sets each `gte`/`gt` threshold, replacing any previous one.
 * - `remove` takes allowed values out of each claim's list and drops the `gte`/`gt` rule of each
 *   claim named, whose threshold must be the one in force. A claim's rule is dropped only by the
 *   explicit form `claims: {"<claim>": []}`; a removal that would leave a claim with no allowed
 *   value is rejected rather than silently widening the policy.
 * - Removing anything the policy does not hold is rejected and named, so typos surface.
 *
 * Every accepted change yields the next version of the stored policy.
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { decodeWith, nextVersion } from "../codec.ts";
import { invalidInput, type KmsError } from "../errors.ts";
import type { KeyReleasePolicy, StoredKeyReleasePolicy } from "./keyRelease.ts";
import {
  type AllowedValue,
  type ClaimRules,
  distinct,
  hasValue,
  limits,
  parseClaimRules,
  parseThresholds,
  type Thresholds,
} from "./rules.ts";
import {
  allOf,
  codecFrom,
  isJsonObject,
  own,
  type Parsed,
  parseEntries,
  problem,
  render,
  unknownFields,
} from "./validation.ts";

/** What a change does to the rules it lists. */
export type ChangeType = "add" | "remove";

/**
 * A change in normalised form. In a `remove` change, an empty list under `claims` drops that
 * claim's rule; in an `add` change every list is non-empty.
 */
export interface KeyReleaseChange {
  readonly type: ChangeType;
  readonly claims: ClaimRules;
  readonly gte: Thresholds;
  readonly gt: Thresholds;
}

const fields = ["type", "claims", "gte", "gt"];

const isChangeType = (u: unknown): u is ChangeType => u === "add" || u === "remove";

const listsRules = (...maps: readonly object[]): boolean =>
  maps.some((m) => Object.keys(m).length > 0);

const parseChange = (u: unknown): Parsed<KeyReleaseChange> => {
  if (!isJsonObject(u)) {
    return problem(
      'the change must be an object {type: "add" | "remove", claims, gte?, gt?}',
    );
  }
  const type = u.type;
  const claims = parseClaimRules(u.claims, type === "remove");
  const gte = parseThresholds("gte", u.gte);
  const gt = parseThresholds("gt", u.gt);
  return pipe(
    allOf([
      unknownFields(u, fields, "the change"),
      isChangeType(type) ? E.right(type) : problem(
        `type must be "add" or "remove", got ${render(type)}`,
      ),
      claims,
      gte,
      gt,
    ], () => ({
      type: type as ChangeType,
      claims: E.isRight(claims) ? claims.right : {},
      gte: E.isRight(gte) ? gte.right : {},
      gt: E.isRight(gt) ? gt.right : {},
    })),
    E.chain((change) =>
      listsRules(change.claims, change.gte, change.gt) ? E.right(change) : problem(
        "the change lists no rule: name at least one claim in claims, gte or gt",
      )
    ),
  );
};

/**
 * Codec of a change (the governance argument). Decoding checks claim names and value types
 * against the catalogue (gte/gt on number claims only), normalises the seed's forms (a lone
 * scalar for a one-value list, numeral strings for numbers, repeats dropped; see ./rules.ts),
 * rejects unknown fields and arrays in gte/gt, and bounds sizes: at most 64 claims per map, 64
 * values per claim, 64 elements per array value, strings and claim names of at most 1024
 * characters. Encoding yields the normalised form `{type, claims, gte, gt}`.
 */
export const KeyReleaseChangeCodec = codecFrom<KeyReleaseChange>(
  "KeyReleaseChange",
  parseChange,
);

/** Decodes a governance argument into a change; problems become InvalidInput naming the field. */
export const decodeKeyReleaseChange: (
  u: unknown,
) => E.Either<KmsError, KeyReleaseChange> = decodeWith(
  KeyReleaseChangeCodec,
  "key release policy change",
);

const withinLimits = (policy: KeyReleasePolicy): Parsed<null> =>
  allOf([
    ...(["claims", "gte", "gt"] as const).map((field) =>
      Object.keys(policy[field]).length <= limits.claims ? E.right(null) : problem(
        `the policy would have ${field} rules for more than ${limits.claims} claims`,
      )
    ),
    ...Object.entries(policy.claims).map(([name, values]) =>
      values.length <= limits.values ? E.right(null) : problem(
        `claims.${name} would allow more than ${limits.values} values`,
      )
    ),
  ], () => null);

const add = (
  policy: KeyReleasePolicy,
  change: KeyReleaseChange,
): Parsed<KeyReleasePolicy> => {
  const merged: KeyReleasePolicy = {
    claims: {
      ...policy.claims,
      ...Object.fromEntries(
        Object.entries(change.claims).map(([name, values]) => [
          name,
          distinct([...(own(policy.claims, name) ?? []), ...values]),
        ]),
      ),
    },
    gte: { ...policy.gte, ...change.gte },
    gt: { ...policy.gt, ...change.gt },
  };
  return E.map(() => merged)(withinLimits(merged));
};

/** The values left after a removal, or undefined when the claim's rule is dropped. */
const removeValues = (
  name: string,
  current: readonly AllowedValue[] | undefined,
  removed: readonly AllowedValue[],
): Parsed<readonly AllowedValue[] | undefined> => {
  if (current === undefined) {
    return problem(`claims.${name}: the policy has no rule for this claim`);
  }
  if (removed.length === 0) return E.right(undefined);
  const absent = removed.filter((v) => !hasValue(current, v));
  const rest = current.filter((v) => !hasValue(removed, v));
  if (absent.length > 0) {
    return problem(
      `claims.${name}: ${render(absent)} not allowed by the policy (it allows ${
        render(current)
      }); check for typos`,
    );
  }
  return rest.length > 0 ? E.right(rest) : problem(
    `claims.${name}: removing every allowed value would leave no allowed value; to drop the rule, remove it explicitly with "claims": {"${name}": []}`,
  );
};

const removeThreshold = (
  field: "gte" | "gt",
  name: string,
  current: number | undefined,
  removed: number,
): Parsed<null> =>
  current === removed ? E.right(null) : problem(
    current === undefined
      ? `${field}.${name}: the policy has no ${field} rule for this claim`
      : `${field}.${name}: the threshold in force is ${current}, not ${removed}`,
  );

const dropThresholds = (
  field: "gte" | "gt",
  rules: Thresholds,
  removed: Thresholds,
): Parsed<Thresholds> =>
  E.map(() =>
    Object.fromEntries(
      Object.entries(rules).filter(([name]) => own(removed, name) === undefined),
    )
  )(
    parseEntries(
      Object.entries(removed),
      (name, value) => removeThreshold(field, name, own(rules, name), value),
    ),
  );

const remove = (
  policy: KeyReleasePolicy,
  change: KeyReleaseChange,
): Parsed<KeyReleasePolicy> => {
  const claims = parseEntries(
    Object.entries(change.claims),
    (name, values) => removeValues(name, own(policy.claims, name), values),
  );
  const gte = dropThresholds("gte", policy.gte, change.gte);
  const gt = dropThresholds("gt", policy.gt, change.gt);
  return allOf([claims, gte, gt], () => ({
    claims: E.isRight(claims) ? keepClaims(policy.claims, claims.right) : {},
    gte: E.isRight(gte) ? gte.right : {},
    gt: E.isRight(gt) ? gt.right : {},
  }));
};

// Replaces each changed claim's list, dropping those whose rule the change removed.
const keepClaims = (
  rules: ClaimRules,
  changed: Readonly<Record<string, readonly AllowedValue[] | undefined>>,
): ClaimRules =>
  Object.fromEntries(
    Object.entries(rules).flatMap(([name, values]) => {
      const next = Object.prototype.hasOwnProperty.call(changed, name) ? changed[name] : values;
      return next === undefined ? [] : [[name, next]];
    }),
  );

/**
 * Applies an accepted change to the stored policy, yielding version + 1. Rejected changes
 * (InvalidInput) name every claim at fault: a removal of something the policy does not hold, a
 * removal that would leave a claim with no allowed value, or a merge beyond the size bounds.
 */
export const applyChange = (
  stored: StoredKeyReleasePolicy,
  change: KeyReleaseChange,
): E.Either<KmsError, StoredKeyReleasePolicy> =>
  pipe(
    nextVersion(stored.version, "key release policy"),
    E.flatMap((version) => {
      const next = change.type === "add"
        ? add(stored.policy, change)
        : remove(stored.policy, change);
      return E.isRight(next) ? E.right({ version, policy: next.right }) : E.left(
        invalidInput(`key release policy change rejected: ${next.left.join("; ")}`),
      );
    }),
  );
