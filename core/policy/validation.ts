/**
 * Parsing helpers shared by the policy codecs.
 *
 * Parsers collect every problem, not only the first, and each message names the field to fix, so
 * that an operator can correct a governance proposal in one round (`decodeWith` of core/codec.ts
 * turns them into one InvalidInput error, quoting the first three).
 */
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";

/** A parse result: the typed value, or every problem found (io-ts's `Validation` is another thing). */
export type Parsed<A> = E.Either<readonly string[], A>;

/** A JSON object as decoded from untyped input. */
export type JsonObject = Readonly<Record<string, unknown>>;

/** A failed parse with one message. */
export const problem = (message: string): Parsed<never> => E.left([message]);

/** True for a non-null, non-array object. */
export const isJsonObject = (u: unknown): u is JsonObject =>
  typeof u === "object" && u !== null && !Array.isArray(u);

/**
 * The own property `key` of `o`, or undefined; never an inherited one such as `constructor`,
 * which untrusted names could otherwise reach.
 */
export const own = <V>(
  o: Readonly<Record<string, V>>,
  key: string,
): V | undefined => Object.prototype.hasOwnProperty.call(o, key) ? o[key] : undefined;

/** A short, printable rendering of a value decoded from JSON, for error messages. */
export const render = (u: unknown): string => {
  if (u === undefined) return "missing";
  const json = JSON.stringify(u) ?? typeof u;
  return json.length > 80 ? `${json.slice(0, 77)}...` : json;
};

/** No problem when `o` has only `known` fields; otherwise one naming the others, within `where`. */
export const unknownFields = (
  o: JsonObject,
  known: readonly string[],
  where: string,
): Parsed<null> => {
  const extra = Object.keys(o).filter((k) => !known.includes(k));
  return extra.length === 0 ? E.right(null) : problem(
    `${where}: unknown field(s) ${extra.join(", ")} (expected ${known.join(", ")})`,
  );
};

/**
 * Parses every entry and keeps all problems. The result is built with `Object.fromEntries`, which
 * defines own data properties, so a key such as `__proto__` cannot reach a prototype.
 */
export const parseEntries = <A, B>(
  entries: readonly (readonly [string, A])[],
  parse: (key: string, value: A) => Parsed<B>,
): Parsed<Readonly<Record<string, B>>> => {
  const results = entries.map(([k, v]) => [k, parse(k, v)] as const);
  const problems = results.flatMap(([, r]) => E.isLeft(r) ? r.left : []);
  return problems.length > 0 ? E.left(problems) : E.right(
    Object.fromEntries(
      results.flatMap(([k, r]) => E.isRight(r) ? [[k, r.right]] : []),
    ),
  );
};

/**
 * Keeps the problems of every validation, or the value of the last when all succeeded; for
 * checks that run side by side.
 */
export const allOf = <A>(
  checks: readonly Parsed<unknown>[],
  value: () => A,
): Parsed<A> => {
  const problems = checks.flatMap((c) => E.isLeft(c) ? c.left : []);
  return problems.length > 0 ? E.left(problems) : E.right(value());
};

/** Whether two values decoded from JSON are the same JSON (object key order aside). */
export const sameJson = (a: unknown, b: unknown): boolean => {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const keys = Object.keys(a);
  const other = b as Record<string, unknown>;
  return keys.length === Object.keys(b).length &&
    keys.every((k) =>
      Object.hasOwn(other, k) && sameJson((a as Record<string, unknown>)[k], other[k])
    );
};

/**
 * An io-ts codec from a parser that normalises input: the parser is the one statement of the
 * schema. Its values are JSON already, so encoding is the identity; `is` accepts exactly the
 * normalised form, i.e. what parses to itself.
 */
export const codecFrom = <A>(
  name: string,
  parse: (u: unknown) => Parsed<A>,
): t.Type<A, A, unknown> =>
  new t.Type<A, A, unknown>(
    name,
    (u): u is A => {
      const r = parse(u);
      return E.isRight(r) && sameJson(r.right, u);
    },
    (u, c) => {
      const r = parse(u);
      return E.isRight(r) ? t.success(r.right) : t.failures(
        r.left.map((message) => ({ value: u, context: c, message })),
      );
    },
    t.identity,
  );
