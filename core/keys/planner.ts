/**
 * The rotation planner and the choice of the key to release: pure decisions over the key records,
 * the rotation policy and the time.
 */
import * as E from "fp-ts/lib/Either.js";
import * as O from "fp-ts/lib/Option.js";
import { pipe } from "fp-ts/lib/function.js";
import { internal, keyExpired, keyIdsExhausted, keyNotFound, type KmsError } from "../errors.ts";
import type { RotationPolicy } from "../policy/rotation.ts";
import {
  isReleasable,
  keyByKeyId,
  type KeyRecord,
  keyState,
  maxKeyIndex,
  newestActiveKey,
  newestKey,
} from "./record.ts";

/** What a rotation decided: the record of the key to create, or that none is due before `dueAt`. */
export type RotationPlan =
  | { readonly _tag: "Create"; readonly key: KeyRecord }
  | { readonly _tag: "NotDue"; readonly dueAt: number };

/** Why a rotation is asked for: `always` (an operator's `/refresh`) or `ifDue` (a scheduler's). */
export type RotationMode = "always" | "ifDue";

/**
 * The OHTTP key id for a new key: the first id after the newest key's that no releasable key holds,
 * so ids cycle through all 256 values and one is reused only once its previous key has expired.
 */
const nextKeyId = (
  keys: readonly KeyRecord[],
  now: number,
): E.Either<KmsError, number> => {
  const held = new Set(
    keys.filter((k) => isReleasable(k, now)).map((k) => k.keyId),
  );
  const start = pipe(newestKey(keys), O.match(() => 0, (k) => k.keyId + 1));
  const free = Array.from({ length: 256 }, (_, i) => (start + i) % 256).find((
    id,
  ) => !held.has(id));
  return free === undefined
    ? E.left(keyIdsExhausted(
      "all 256 OHTTP key ids belong to keys that can still be released; wait until the oldest " +
        "key's grace period ends, or shorten the rotation policy",
    ))
    : E.right(free);
};

const nextIndex = (keys: readonly KeyRecord[]): E.Either<KmsError, number> =>
  pipe(
    newestKey(keys),
    O.match(() => 0, (k) => k.index + 1),
    E.fromPredicate(
      (i) => i <= maxKeyIndex,
      () => internal("the key index space is exhausted"),
    ),
  );

/**
 * Decides whether to create a key at `now` and, if so, its record. In `ifDue` mode a key is due when
 * no key is active; in `always` mode one is always created.
 */
export const planRotation = (
  keys: readonly KeyRecord[],
  policy: RotationPolicy,
  now: number,
  mode: RotationMode,
): E.Either<KmsError, RotationPlan> => {
  const active = newestActiveKey(keys, now);
  if (mode === "ifDue" && O.isSome(active)) {
    return E.right({ _tag: "NotDue", dueAt: active.value.notAfter });
  }
  return pipe(
    nextIndex(keys),
    E.flatMap((index) => pipe(nextKeyId(keys, now), E.map((keyId) => ({ index, keyId })))),
    E.map(({ index, keyId }): RotationPlan => {
      const notAfter = now + policy.rotation_interval_seconds;
      const releaseUntil = notAfter + policy.grace_period_seconds;
      return {
        _tag: "Create",
        key: { index, keyId, createdAt: now, notAfter, releaseUntil },
      };
    }),
  );
};

/**
 * The key to release for `keyId` (or the newest key when none is given): 404 when there is none,
 * 410 when it is past its grace period.
 */
export const keyToRelease = <K extends KeyRecord>(
  keys: readonly K[],
  keyId: number | undefined,
  now: number,
): E.Either<KmsError, K> =>
  pipe(
    keyId === undefined ? newestKey(keys) : keyByKeyId(keys, keyId),
    E.fromOption(() =>
      keyNotFound(
        keyId === undefined
          ? "no key exists yet: create one with /refresh"
          : `no key has OHTTP key id ${keyId}; /listpubkeys lists the current ones`,
      )
    ),
    E.filterOrElse(
      (k: K) => keyState(k, now) !== "expired",
      (k: K) =>
        keyExpired(
          `key ${k.keyId} expired at ${k.releaseUntil} and can no longer be released`,
        ),
    ),
  );
