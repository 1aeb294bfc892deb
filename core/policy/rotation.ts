/**
 * The key rotation policy: how long a key is the active one, and how long after that it can still
 * be released (the grace period), so that gateways that cached it keep decrypting prompts that
 * clients encrypted just before a rotation.
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import * as t from "io-ts";
import { boundedInt, closed, decodeWith, versioned } from "../codec.ts";
import type { KmsError } from "../errors.ts";

/** A year and a day, in seconds: no key should live longer without rotation. */
const maxRotationSeconds = 366 * 86_400;

/**
 * Codec of the rotation policy. The lower bound of one second exists for tests and demos; production
 * deployments set hours or days.
 */
export const RotationPolicy = closed({
  rotation_interval_seconds: boundedInt(
    "rotation_interval_seconds",
    1,
    maxRotationSeconds,
  ),
  grace_period_seconds: boundedInt(
    "grace_period_seconds",
    0,
    maxRotationSeconds,
  ),
});
/** The rotation policy. */
export type RotationPolicy = t.TypeOf<typeof RotationPolicy>;

/**
 * The policy in force before any proposal sets one: daily rotation, and a day of grace because the
 * attested OHTTP server caches a released key for 24 hours.
 */
const defaultRotationPolicy: RotationPolicy = {
  rotation_interval_seconds: 86_400,
  grace_period_seconds: 86_400,
};

const RotationArgs = closed({ key_rotation_policy: RotationPolicy });

/** Decodes the `set_key_rotation_policy` governance argument. */
export const decodeRotationArgs = (
  args: unknown,
): E.Either<KmsError, RotationPolicy> =>
  pipe(
    args,
    decodeWith(RotationArgs, "set_key_rotation_policy argument"),
    E.map((a) => a.key_rotation_policy),
  );

/** Codec of the stored rotation policy with its version. */
export const StoredRotationPolicy = versioned(RotationPolicy);
/** The stored rotation policy with its version. */
export type StoredRotationPolicy = t.TypeOf<typeof StoredRotationPolicy>;
/** What is in force before governance sets a rotation policy: the default, version 0. */
export const initialRotationPolicy: StoredRotationPolicy = {
  version: 0,
  policy: defaultRotationPolicy,
};
