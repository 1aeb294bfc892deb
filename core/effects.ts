/**
 * The effects the KMS's decisions ask for, and programs made of them.
 *
 * An endpoint's core function never touches storage or the TEE's crypto: it returns a
 * {@link Program}, a value that is either finished (an answer or an error) or one {@link Effect}
 * with the rest of the decision as a function of that effect's result. The CCF shell runs programs
 * against `ccf.kv`, `ccf.crypto` and `ccf.historical`; tests run them against memory. Where a
 * result feeds the next decision (a stored value, a generated key pair, a wrapped key) the
 * decision stays here, in the continuation.
 */
import * as E from "fp-ts/lib/Either.js";
import type { RsaPublicJwk } from "./attestation/wrappingKey.ts";
import type { KmsError } from "./errors.ts";

/** What asking for the receipt of a KV write found. */
export type ReceiptLookup =
  /** The receipt, as CCF's JSON receipt text. */
  | { readonly _tag: "Signed"; readonly receipt: string }
  /** The write is not covered by a signature yet, or the node is still fetching it. */
  | { readonly _tag: "Pending" }
  /** No write of that key is recorded. */
  | { readonly _tag: "Unwritten" };

/** One key of one KV map. */
export interface KvEntry {
  readonly map: string;
  readonly key: string;
}

/** One thing a decision needs done outside the core. */
export type Effect =
  /**
   * Read the JSON value at `key` of `map` and give `decode` of it (of undefined when absent).
   * `decode` must be pure: an interpreter may reuse its result while the value is unchanged.
   */
  | {
    readonly _tag: "Get";
    readonly map: string;
    readonly key: string;
    readonly decode: (stored: unknown) => unknown;
  }
  /** Every key of `map` with its JSON value, in no particular order (for small maps only). */
  | { readonly _tag: "Entries"; readonly map: string }
  /** Write `value` as JSON at `key` of `map` (committed only if the request succeeds). */
  | { readonly _tag: "Put"; readonly map: string; readonly key: string; readonly value: unknown }
  /** Delete `key` of `map`. */
  | { readonly _tag: "Delete"; readonly map: string; readonly key: string }
  /** Bind the transaction's receipt to a 32-byte claims digest. */
  | { readonly _tag: "SetClaimsDigest"; readonly digest: Uint8Array }
  /** The id (`view.seqno`) of the transaction that last wrote `key` of `map`, if any. */
  | { readonly _tag: "TransactionOf"; readonly map: string; readonly key: string }
  /**
   * Look up the receipts of the transactions that last wrote each of `keys` of `map`: one effect
   * for many, because `/listpubkeys` asks for every releasable key's.
   */
  | { readonly _tag: "Receipts"; readonly map: string; readonly keys: readonly string[] }
  /**
   * Give the result of `program()`, or the one it gave before under `key` while that still holds:
   * `entry` has not been written since, and `at` lies between the `at` it was made at and the time
   * `keepUntil` gave for it (undefined: not kept). See {@link memo}.
   */
  | {
    readonly _tag: "Memo";
    readonly key: string;
    readonly entry: KvEntry;
    readonly at: number;
    readonly program: () => Program<unknown>;
    readonly keepUntil: (value: unknown) => number | undefined;
  }
  /**
   * SHA-256 of each text's UTF-8 bytes. Pure, but CCF hashes natively where QuickJS would take
   * milliseconds for a token's claims.
   */
  | { readonly _tag: "Sha256"; readonly texts: readonly string[] }
  /** Generate a P-384 key pair inside the TEE; the result is its private JWK, unchecked. */
  | { readonly _tag: "GenerateP384" }
  /** RSA-OAEP (SHA-256, MGF1-SHA-256, no label) of `plaintext` to `wrappingKey`. */
  | {
    readonly _tag: "WrapRsaOaep";
    readonly plaintext: Uint8Array;
    readonly wrappingKey: RsaPublicJwk;
  };

/** The result each effect gives back. */
export interface EffectResults {
  /** What `decode` gave; {@link get} types it. */
  readonly Get: unknown;
  /** The entries, `[key, value]`. */
  readonly Entries: readonly (readonly [string, unknown])[];
  /** Nothing. */
  readonly Put: undefined;
  /** Nothing. */
  readonly Delete: undefined;
  /** Nothing. */
  readonly SetClaimsDigest: undefined;
  /** The transaction id, or undefined when the key was never written. */
  readonly TransactionOf: string | undefined;
  /** The receipt lookups, in the order of the keys. */
  readonly Receipts: readonly ReceiptLookup[];
  /** The program's result; {@link memo} types it. */
  readonly Memo: E.Either<KmsError, unknown>;
  /** The digests, in the order of the texts. */
  readonly Sha256: readonly Uint8Array[];
  /** The private JWK, to be decoded by the decision that asked for it. */
  readonly GenerateP384: unknown;
  /** The wrapped bytes. */
  readonly WrapRsaOaep: Uint8Array;
}

/** A decision that is finished, or waits for one effect's result to go on. */
export type Program<A> =
  | { readonly _tag: "Done"; readonly result: E.Either<KmsError, A> }
  | {
    readonly _tag: "Step";
    readonly effect: Effect;
    /** The rest of the decision; an interpreter passes the result {@link EffectResults} names. */
    readonly next: (result: unknown) => Program<A>;
  };

/** A finished program with result `result`. */
export const fromEither = <A>(result: E.Either<KmsError, A>): Program<A> => ({
  _tag: "Done",
  result,
});

/** A finished program with value `a`. */
export const of = <A>(a: A): Program<A> => fromEither(E.right(a));

/** A finished program that failed with `error`. */
export const fail = <A = never>(error: KmsError): Program<A> => fromEither(E.left(error));

/** The result `effect` gives back. */
export type ResultOf<F extends Effect> = EffectResults[F["_tag"]];

/**
 * The program that performs `effect` and continues with `then` of its result (by default, gives
 * the result). Continuing here rather than with `flatMap` saves a step's worth of wrapping, which
 * counts in CCF's interpreter on every request.
 */
export const perform = <F extends Effect, B = ResultOf<F>>(
  effect: F,
  then: (result: ResultOf<F>) => Program<B> = of as (result: ResultOf<F>) => Program<B>,
): Program<B> => ({
  _tag: "Step",
  effect,
  // The one place where an interpreter's answer is taken as the effect's result type.
  next: (result) => then(result as ResultOf<F>),
});

/** The program that reads `key` of `map`, decodes it with `decode`, and continues with `then`. */
export const get = <A, B = A>(
  map: string,
  key: string,
  decode: (stored: unknown) => A,
  then: (decoded: A) => Program<B> = of as (decoded: A) => Program<B>,
): Program<B> => perform({ _tag: "Get", map, key, decode }, (r) => then(r as A));

/**
 * `m.program()`, whose result an interpreter may keep under `m.key` and give again without building
 * or running the program, for as long as `m.entry` is not written and the clock (`m.at`, the
 * request's) stays between the time the result was made and `m.keepUntil` of it (undefined keeps
 * nothing). `m.key`, `m.entry` and `m.keepUntil` must together name everything the result depends
 * on: the program reads `m.entry` and otherwise only values that never change once it keeps its
 * result. An interpreter keeps results in memory, so they must hold no secret. Continues with
 * `then` of the result, as {@link get} does.
 */
export const memo = <A, B = A>(
  m: {
    readonly key: string;
    readonly entry: KvEntry;
    readonly at: number;
    readonly program: () => Program<A>;
    readonly keepUntil: (value: A) => number | undefined;
  },
  then: (value: A) => Program<B> = of as (value: A) => Program<B>,
): Program<B> =>
  perform(
    {
      _tag: "Memo",
      key: m.key,
      entry: m.entry,
      at: m.at,
      program: m.program,
      keepUntil: m.keepUntil as (value: unknown) => number | undefined,
    },
    (r) => E.isRight(r) ? then(r.right as A) : fromEither(r),
  );

/** A memo's result as an interpreter keeps it, with what it holds for (see {@link memo}). */
export interface KeptMemo {
  /** The version of the memo's entry it was made at. */
  readonly version: number;
  /** The clock's time it was made at: it holds from then... */
  readonly since: number;
  /** ...until before this time. */
  readonly until: number;
  readonly result: E.Either<KmsError, unknown>;
}

/**
 * The rule of a `Memo` effect, for an interpreter: the result `kept` under its key while it holds,
 * else `run` of its program, with what to keep of that. `version` is the entry's version before
 * the transaction (undefined: never written); a write of the entry by the transaction itself is
 * not final (`writtenHere`, asked again after the program ran), so nothing is given or kept then.
 */
export const runMemo = (
  effect: Extract<Effect, { _tag: "Memo" }>,
  version: number | undefined,
  kept: KeptMemo | undefined,
  writtenHere: () => boolean,
  run: (program: Program<unknown>) => E.Either<KmsError, unknown>,
): { readonly result: E.Either<KmsError, unknown>; readonly keep?: KeptMemo } => {
  const { at } = effect;
  if (
    kept !== undefined && kept.version === version && kept.since <= at && at < kept.until &&
    !writtenHere()
  ) return { result: kept.result };
  const result = run(effect.program());
  const until = E.isRight(result) ? effect.keepUntil(result.right) : undefined;
  return version === undefined || until === undefined || writtenHere()
    ? { result }
    : { result, keep: { version, since: at, until, result } };
};

/** Runs `f` on the program's value once it has one; an error ends the program. */
export const flatMap = <A, B>(f: (a: A) => Program<B>) => (program: Program<A>): Program<B> =>
  program._tag === "Step"
    ? { _tag: "Step", effect: program.effect, next: (r) => flatMap(f)(program.next(r)) }
    : E.isLeft(program.result)
    ? fromEither(program.result)
    : f(program.result.right);

/** Maps the program's value. */
export const map = <A, B>(f: (a: A) => B): (program: Program<A>) => Program<B> =>
  flatMap((a) => of(f(a)));

/** Continues with a decision that needs no effect. */
export const flatMapEither = <A, B>(
  f: (a: A) => E.Either<KmsError, B>,
): (program: Program<A>) => Program<B> => flatMap((a) => fromEither(f(a)));

/**
 * The programs `f(x)` for each of `xs`, one after the other, with their values in order. Each
 * step continues from the accumulated values directly, so a long list costs linear time.
 */
export const traverse = <X, A>(
  xs: readonly X[],
  f: (x: X) => Program<A>,
): Program<A[]> => {
  const from = (i: number, done: A[]): Program<A[]> =>
    i === xs.length ? of(done) : flatMap((a: A) => from(i + 1, [...done, a]))(f(xs[i]));
  return from(0, []);
};

/** Runs the programs of `r` one after the other and gives their values by name. */
export const all = <R extends Record<string, Program<unknown>>>(
  r: R,
): Program<{ readonly [K in keyof R]: R[K] extends Program<infer A> ? A : never }> =>
  map((values: unknown[]) =>
    Object.fromEntries(Object.keys(r).map((name, i) => [name, values[i]])) as never
  )(traverse(Object.values(r), (p) => p));

/** Performs `effects` in order, for their side effects only. */
export const performAll = (effects: readonly Effect[]): Program<undefined> =>
  map(() => undefined)(traverse(effects, perform));
