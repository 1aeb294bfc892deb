/**
 * A typed way to gather several independent `Either` results into one record.
 *
 * fp-ts's own `sequenceS` and do-notation (`bind`, `apS`) lose their types under Deno's npm type
 * resolution (their higher-kinded type registry is not picked up, so results come out as
 * `unknown`), hence this small replacement.
 */
import * as E from "fp-ts/lib/Either.js";

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
