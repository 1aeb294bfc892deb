/** Shared io-ts helpers: decoding unknown input into the core's error type, and bounded numbers. */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import * as t from "io-ts";
import { internal, invalidInput, type KmsError } from "./errors.ts";
import { render } from "./policy/validation.ts";

const pathOf = (e: t.ValidationError): string =>
  e.context.map((c) => c.key).filter((k) => k !== "").join(".") || "(root)";

// Values are shown shortened: a governance argument may be megabytes long. The type that refused
// the value says what is expected (the codecs here name their refinements for that).
const describe = (e: t.ValidationError): string =>
  e.message ??
    `${pathOf(e)}: got ${render(e.value)}, expected ${e.context[e.context.length - 1]?.type.name}`;

/**
 * Decodes `input` with `codec`; on failure an `InvalidInput` whose message names `what` and the
 * first few offending fields (values are shown only for non-secret inputs, so use it at boundaries
 * whose inputs are public: governance arguments, query strings, KV records).
 */
export const decodeWith =
  <A, O>(codec: t.Type<A, O, unknown>, what: string) => (input: unknown): E.Either<KmsError, A> =>
    pipe(
      codec.decode(input),
      E.mapLeft((errors) =>
        invalidInput(
          `${what} is invalid: ${errors.slice(0, 3).map(describe).join("; ")}`,
        )
      ),
    );

/** An integer in [min, max], named for error messages. */
export const boundedInt = (
  name: string,
  min: number,
  max: number,
): t.Type<number, number> =>
  t.refinement(
    t.number,
    (n) => Number.isInteger(n) && n >= min && n <= max,
    `${name} (an integer from ${min} to ${max})`,
  );

/** A string of at most `max` characters. */
export const boundedString = (
  name: string,
  max: number,
): t.Type<string, string> =>
  t.refinement(
    t.string,
    (s) => s.length <= max,
    `${name} (a string of at most ${max} characters)`,
  );

/**
 * A codec of the object `props` describes that refuses fields it does not name, saying which:
 * io-ts's `strict` drops them silently, which lets a misspelt field of a proposal pass unnoticed.
 */
export const closed = <P extends t.Props>(
  props: P,
): t.Type<t.TypeOf<t.TypeC<P>>, t.OutputOf<t.TypeC<P>>, unknown> => {
  const base = t.type(props);
  const known = Object.keys(props);
  const extra = (u: unknown): string[] =>
    typeof u === "object" && u !== null ? Object.keys(u).filter((k) => !known.includes(k)) : [];
  return new t.Type(
    base.name,
    (u): u is t.TypeOf<t.TypeC<P>> => base.is(u) && extra(u).length === 0,
    (u, c) => {
      const unknown = extra(u);
      return unknown.length === 0 ? base.validate(u, c) : t.failure(
        u,
        c,
        `unknown field(s) ${unknown.join(", ")} (expected ${known.join(", ")})`,
      );
    },
    base.encode,
  );
};

/** The largest version of a stored governance value: the counter is a uint32. */
export const maxPolicyVersion = 2 ** 32 - 1;

/**
 * The version an accepted change gives a stored governance value, or `Internal` once the counter
 * is exhausted (a larger one would make the stored value undecodable).
 */
export const nextVersion = (version: number, what: string): E.Either<KmsError, number> =>
  version < maxPolicyVersion
    ? E.right(version + 1)
    : E.left(internal(`the ${what} version counter is exhausted`));

/** A stored governance value together with the version its last accepted change produced. */
export const versioned = <A, O>(value: t.Type<A, O, unknown>) =>
  t.strict({ version: boundedInt("version", 0, maxPolicyVersion), policy: value });
