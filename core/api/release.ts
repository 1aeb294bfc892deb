/**
 * The decision of `POST /key`: may this attested caller have a key, which one, and wrapped to what.
 * Checks run in an order that reveals nothing to a caller who fails an earlier one: the token's
 * issuer policy, then the key release policy, then the wrapping key, and only then the key.
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { checkJwtValidation, type JwtValidationPolicy } from "../attestation/jwtValidation.ts";
import { type RsaPublicJwk, wrappingKeyOf } from "../attestation/wrappingKey.ts";
import type { KmsError } from "../errors.ts";
import { keyToRelease } from "../keys/planner.ts";
import type { PublishedKey } from "../keys/record.ts";
import type { TokenClaims } from "../policy/claims.ts";
import { evaluate, type KeyReleasePolicy } from "../policy/keyRelease.ts";

/** Everything the decision depends on, decoded. */
export interface ReleaseRequest {
  readonly kid: number | undefined;
  readonly issuer: string;
  readonly claims: TokenClaims;
  readonly jwtPolicy: JwtValidationPolicy | undefined;
  readonly releasePolicy: KeyReleasePolicy;
  readonly keys: readonly PublishedKey[];
  readonly now: number;
}

/** What to release: the key and the caller's TPM key to wrap it to. */
export interface ReleaseDecision {
  readonly key: PublishedKey;
  readonly wrappingKey: RsaPublicJwk;
}

/** Decides a key release; every refusal is a {@link KmsError} with its HTTP status. */
export const decideRelease = (
  r: ReleaseRequest,
): E.Either<KmsError, ReleaseDecision> =>
  pipe(
    checkJwtValidation(r.issuer, r.jwtPolicy, r.claims),
    E.flatMap(() => evaluate(r.releasePolicy, r.claims)),
    E.flatMap(() => wrappingKeyOf(r.claims)),
    E.flatMap((wrappingKey) =>
      pipe(
        keyToRelease(r.keys, r.kid, r.now),
        E.map((key) => ({ key, wrappingKey })),
      )
    ),
  );
