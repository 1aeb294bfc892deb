/** The key release policy tests' harness: fast-check generators of claims, policies, changes. */
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import {
  claimCatalogue,
  type ClaimType,
  claimType,
  type TokenClaims,
} from "../../../core/policy/claims.ts";
import {
  emptyStoredPolicy,
  type KeyReleasePolicy,
  type StoredKeyReleasePolicy,
} from "../../../core/policy/keyRelease.ts";
import { applyChange, type KeyReleaseChange } from "../../../core/policy/keyReleaseChange.ts";
import { type AllowedValue, sameValue } from "../../../core/policy/rules.ts";

/** Claim names of every type, nested ones and a client payload name included. */
export const claimName = fc.constantFrom(
  ...Object.keys(claimCatalogue),
  "x-ms-runtime.client-payload.nonce",
);

/** The names of number claims. */
export const numberClaim = fc.constantFrom(
  ...Object.keys(claimCatalogue).filter((n) => claimCatalogue[n] === "number"),
);

// Small domains, so that tokens and policies often agree.
const valueOfType = (type: ClaimType): fc.Arbitrary<AllowedValue> => {
  switch (type) {
    case "string":
      return fc.constantFrom("1.0", "2.0", "22", "azure-compliant-cvm", "");
    case "number":
      return fc.integer({ min: 18, max: 26 });
    case "boolean":
      return fc.boolean();
    case "number[]":
      return fc.uniqueArray(fc.integer({ min: 0, max: 7 }), { maxLength: 4 })
        .map((a) => [...a].sort((x, y) => x - y));
  }
};

/** A normalised allowed value of the named claim. */
export const valueOf = (name: string): fc.Arbitrary<AllowedValue> => valueOfType(claimType(name)!);

/** A non-empty list of distinct allowed values of the named claim. */
export const valuesOf = (name: string, minLength = 1) =>
  fc.uniqueArray(valueOf(name), {
    minLength,
    maxLength: 4,
    comparator: sameValue,
  });

const claimRules = (minLength: number) =>
  fc.uniqueArray(claimName, { maxLength: 5 }).chain((names) =>
    fc.tuple(...names.map((n) => valuesOf(n, minLength))).map((lists) =>
      Object.fromEntries(names.map((n, i) => [n, lists[i]]))
    )
  );

/** A threshold map over number claims. */
export const thresholds = fc.dictionary(
  numberClaim,
  fc.integer({ min: 18, max: 26 }),
  { maxKeys: 3, noNullPrototype: true },
);

/** A normalised policy, possibly empty. */
export const policy: fc.Arbitrary<KeyReleasePolicy> = fc.record({
  claims: claimRules(1),
  gte: thresholds,
  gt: thresholds,
}, { noNullPrototype: true });

/** A normalised change listing at least one rule. */
export const change: fc.Arbitrary<KeyReleaseChange> = fc.constantFrom(
  "add" as const,
  "remove" as const,
).chain((type) =>
  fc.record({
    type: fc.constant(type),
    claims: claimRules(type === "add" ? 1 : 0),
    gte: thresholds,
    gt: thresholds,
  }, { noNullPrototype: true })
).filter((c) => [c.claims, c.gte, c.gt].some((m) => Object.keys(m).length > 0));

/** The stored policy holding `p`, reached through one add change from the empty policy. */
export const storedOf = (p: KeyReleasePolicy): StoredKeyReleasePolicy => {
  const empty = [p.claims, p.gte, p.gt].every((m) => Object.keys(m).length === 0);
  if (empty) return emptyStoredPolicy;
  const r = applyChange(emptyStoredPolicy, { type: "add", ...p });
  if (E.isLeft(r)) throw new Error(r.left.message);
  return r.right;
};

/** A token holding `value` at the dotted `name`, on top of `token`. */
export const withClaim = (
  token: TokenClaims,
  name: string,
  value: unknown,
): TokenClaims => {
  const [head, ...rest] = name.split(".");
  if (rest.length === 0) return { ...token, [head]: value };
  const inner = token[head];
  const base = typeof inner === "object" && inner !== null &&
      !Array.isArray(inner)
    ? inner as TokenClaims
    : {};
  return { ...token, [head]: withClaim(base, rest.join("."), value) };
};

/** A token over a few claims with values from the same small domains as policies. */
export const token: fc.Arbitrary<TokenClaims> = fc.uniqueArray(claimName, {
  maxLength: 12,
}).chain((names) =>
  fc.tuple(...names.map((n) => valueOf(n))).map((values) =>
    names.reduce<TokenClaims>(
      (t, n, i) => withClaim(t, n, values[i]),
      {},
    )
  )
);

/**
 * A token that often satisfies `p`: each tested claim takes one of its allowed values or a random
 * one; thresholded claims take numbers around the thresholds.
 */
export const tokenFor = (p: KeyReleasePolicy): fc.Arbitrary<TokenClaims> => {
  const names = [
    ...new Set([
      ...Object.keys(p.claims),
      ...Object.keys(p.gte),
      ...Object.keys(p.gt),
    ]),
  ];
  return fc.tuple(
    token,
    ...names.map((n) =>
      fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom(...(p.claims[n] ?? [24])) },
        { weight: 1, arbitrary: valueOf(n) },
        { weight: 1, arbitrary: fc.constant(undefined) },
      )
    ),
  ).map(([base, ...values]) =>
    names.reduce(
      (t, n, i) => values[i] === undefined ? t : withClaim(t, n, values[i]),
      base,
    )
  );
};
