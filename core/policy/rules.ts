/**
 * The rule maps shared by a key release policy and a governance change to it: their types, size
 * bounds, and the parsers that check claim names and value types against the catalogue and
 * normalise the seed's looser forms.
 *
 * Bounds (per map): at most {@link limits}.claims claims, {@link limits}.values allowed values
 * per claim, {@link limits}.values elements per array value, strings of at most
 * {@link limits}.stringLength UTF-16 code units.
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { type ClaimType, claimType } from "./claims.ts";
import { isJsonObject, type Parsed, parseEntries, problem, render } from "./validation.ts";

/**
 * One allowed value of a claim. Scalar claims take scalars of their own type. For an array claim
 * (`number[]`, e.g. `x-ms-azurevm-attested-pcrs`) an allowed value is itself an array, read as a
 * set: the token satisfies it when the token's array contains every element of it. Array values
 * are stored sorted ascending without duplicates, so equal sets have one form.
 */
export type AllowedValue = string | number | boolean | readonly number[];

/** Claim name → allowed values: the `claims` map. */
export type ClaimRules = Readonly<Record<string, readonly AllowedValue[]>>;

/** Claim name → numeric threshold: the `gte` and `gt` maps. */
export type Thresholds = Readonly<Record<string, number>>;

/** Size bounds of every rule map, enforced by every codec and by merges. */
export const limits = { claims: 64, values: 64, stringLength: 1024 } as const;

/** Type-strict equality of allowed values; arrays compare element by element. */
export const sameValue = (a: AllowedValue, b: AllowedValue): boolean =>
  Array.isArray(a) && Array.isArray(b)
    ? a.length === b.length && a.every((x, i) => x === b[i])
    : a === b;

/** True when `values` holds a value equal to `v`. */
export const hasValue = (
  values: readonly AllowedValue[],
  v: AllowedValue,
): boolean => values.some((w) => sameValue(v, w));

/** `values` without repeats, first occurrences kept in order. */
export const distinct = (
  values: readonly AllowedValue[],
): readonly AllowedValue[] =>
  values.filter((v, i) => values.findIndex((w) => sameValue(v, w)) === i);

const isFiniteNumber = (u: unknown): u is number => typeof u === "number" && Number.isFinite(u);

const isSortedSet = (u: unknown): u is readonly number[] =>
  Array.isArray(u) && u.length <= limits.values &&
  u.every((x, i) => isFiniteNumber(x) && (i === 0 || u[i - 1] < x));

/** True when `u` is an allowed value of a claim of type `type`, in normalised form. */
const isAllowedValue = (type: ClaimType, u: unknown): boolean => {
  switch (type) {
    case "string":
      return typeof u === "string" && u.length <= limits.stringLength;
    case "number":
      return isFiniteNumber(u);
    case "boolean":
      return typeof u === "boolean";
    case "number[]":
      return isSortedSet(u);
  }
};

// The JSON number grammar: what the seed's string thresholds such as "22" contain.
const numeral = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/** A number, or a numeral string (seed form) read as one. */
const parseNumber = (field: string, u: unknown): Parsed<number> => {
  if (isFiniteNumber(u)) return E.right(u);
  const n = typeof u === "string" && u.length <= limits.stringLength &&
      numeral.test(u)
    ? Number(u)
    : NaN;
  return Number.isFinite(n) ? E.right(n) : problem(`${field} must be a number, got ${render(u)}`);
};

const parseSet = (field: string, u: unknown): Parsed<readonly number[]> =>
  Array.isArray(u) && u.length <= limits.values && u.every(isFiniteNumber)
    ? E.right([...new Set(u)].sort((a, b) => a - b))
    : problem(
      `${field} must be an array of at most ${limits.values} numbers (the elements the token's array must contain), got ${
        render(u)
      }`,
    );

const parseValue = (
  field: string,
  type: ClaimType,
  u: unknown,
): Parsed<AllowedValue> => {
  if (type === "number") return parseNumber(field, u);
  if (type === "number[]") return parseSet(field, u);
  return isAllowedValue(type, u) ? E.right(u as AllowedValue) : problem(
    `${field} must be a ${type}${
      type === "string" ? ` of at most ${limits.stringLength} characters` : ""
    }, got ${render(u)}`,
  );
};

/** The type of a claim named in a rule map, or a problem naming it. */
const parseName = (field: string, name: string): Parsed<ClaimType> => {
  const type = claimType(name);
  return type !== undefined ? E.right(type) : problem(
    `${field}: unknown claim ${
      render(name)
    } (not in the MAA claim catalogue; nested claims are dotted paths such as x-ms-isolation-tee.x-ms-sevsnpvm-hostdata)`,
  );
};

/** The entries of a rule map, or a problem when it is not an object or is too large. */
const mapEntries = (
  field: string,
  u: unknown,
): Parsed<readonly (readonly [string, unknown])[]> => {
  if (u === undefined) return E.right([]);
  if (!isJsonObject(u)) {
    return problem(`${field} must be an object keyed by claim name`);
  }
  const entries = Object.entries(u);
  return entries.length <= limits.claims
    ? E.right(entries)
    : problem(`${field} names more than ${limits.claims} claims`);
};

/**
 * The allowed values listed for one claim. The seed's forms are normalised: a lone scalar stands
 * for a one-element list, numeral strings of number claims become numbers, repeats are dropped.
 * An array claim's list must hold arrays (`[[0, 1, 2]]`), since a flat `[0, 1, 2]` would be
 * ambiguous. An empty list is returned as is; callers decide whether it is meaningful.
 */
const parseValues = (
  name: string,
  type: ClaimType,
  u: unknown,
): Parsed<readonly AllowedValue[]> => {
  const field = `claims.${name}`;
  if (type === "number[]" && !(Array.isArray(u) && u.every(Array.isArray))) {
    return problem(
      `${field} must be a list of arrays, each the PCR set a token must contain (e.g. [[0, 1, 2]]), got ${
        render(u)
      }`,
    );
  }
  const list: readonly unknown[] = Array.isArray(u) ? u : [u];
  if (list.length > limits.values) {
    return problem(`${field} lists more than ${limits.values} values`);
  }
  const parsed = list.map((v, i) => parseValue(`${field}[${i}]`, type, v));
  const problems = parsed.flatMap((r) => E.isLeft(r) ? r.left : []);
  return problems.length > 0
    ? E.left(problems)
    : E.right(distinct(parsed.flatMap((r) => E.isRight(r) ? [r.right] : [])));
};

/**
 * Parses a `claims` map (absent means empty), checking names and value types against the
 * catalogue. An empty list of allowed values is accepted only when `allowEmpty`.
 */
export const parseClaimRules = (
  u: unknown,
  allowEmpty: boolean,
): Parsed<ClaimRules> =>
  pipe(
    mapEntries("claims", u),
    E.chain((entries) =>
      parseEntries(entries, (name, raw) =>
        pipe(
          parseName("claims", name),
          E.chain((type) => parseValues(name, type, raw)),
          E.chain((values) =>
            values.length > 0 || allowEmpty ? E.right(values) : problem(
              `claims.${name} lists no allowed value (only a remove change may, to drop the claim's rule)`,
            )
          ),
        ))
    ),
  );

/**
 * Parses a `gte` or `gt` map (absent means empty): one number per claim, on number claims only;
 * numeral strings (seed form) become numbers, arrays are rejected.
 */
export const parseThresholds = (
  field: "gte" | "gt",
  u: unknown,
): Parsed<Thresholds> =>
  pipe(
    mapEntries(field, u),
    E.chain((entries) =>
      parseEntries(entries, (name, raw) =>
        pipe(
          parseName(field, name),
          E.chain((type) =>
            type !== "number"
              ? problem(
                `${field}.${name}: ${field} applies only to number claims; ${name} is a ${type} claim`,
              )
              : Array.isArray(raw)
              ? problem(
                `${field}.${name} must be a single number, not an array`,
              )
              : parseNumber(`${field}.${name}`, raw)
          ),
        ))
    ),
  );
