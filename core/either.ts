/**
 * A typed way to gather several independent `Either` results into one record, and the fp-ts types
 * that the public API (mod.ts) exposes, restated.
 *
 * fp-ts's own `sequenceS` and do-notation (`bind`, `apS`) lose their types under Deno's npm type
 * resolution (their higher-kinded type registry is not picked up, so results come out as
 * `unknown`), hence this small replacement.
 *
 * The restated types are structurally identical to fp-ts's, so values pass freely between the two
 * and every fp-ts function applies; they exist because `deno doc --lint` reads npm types as local
 * files and cannot accept fp-ts's declarations, which carry no descriptions.
 */
import * as E from "fp-ts/lib/Either.js";
import type * as RNEA from "fp-ts/lib/ReadonlyNonEmptyArray.js";

/** The failure case of an {@link Either}: fp-ts's `Left`. */
export interface Left<E> {
  /** Discriminant: always `"Left"`. */
  readonly _tag: "Left";
  /** The failure, a `KmsError` throughout this library. */
  readonly left: E;
}

/** The success case of an {@link Either}: fp-ts's `Right`. */
export interface Right<A> {
  /** Discriminant: always `"Right"`. */
  readonly _tag: "Right";
  /** The result. */
  readonly right: A;
}

/** A failure or a result: fp-ts's `Either`, to be read with `isLeft`/`isRight` or matched. */
export type Either<E, A> = Left<E> | Right<A>;

/** A readonly array with at least one element: fp-ts's `ReadonlyNonEmptyArray`. */
export type ReadonlyNonEmptyArray<A> = ReadonlyArray<A> & {
  /** The first element, always present. */
  readonly 0: A;
};

/** True when `A` and `B` are assignable both ways. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Holds<T extends true> = T;
// Fails `deno check` if an fp-ts upgrade makes the restated types drift from the originals.
type _RestatedAsFpTs = Holds<
  | Same<Either<"e", "a">, E.Either<"e", "a">>
  | Same<ReadonlyNonEmptyArray<"a">, RNEA.ReadonlyNonEmptyArray<"a">>
>;

type Rights<R> = { readonly [K in keyof R]: R[K] extends E.Either<unknown, infer A> ? A : never };
type LeftOf<R> = { [K in keyof R]: R[K] extends E.Either<infer L, unknown> ? L : never }[keyof R];

/** All the right values of `r` by name, or the first left in key order. */
export const gather = <R extends Record<string, E.Either<unknown, unknown>>>(
  r: R,
): E.Either<LeftOf<R>, Rights<R>> => {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(r)) {
    if (E.isLeft(value)) return value as E.Left<LeftOf<R>>;
    out[name] = value.right;
  }
  return E.right(out as Rights<R>);
};
