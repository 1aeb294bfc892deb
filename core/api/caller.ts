/** What `/auth` tells a caller about itself: enough to debug authentication, no credentials. */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import * as t from "io-ts";
import { checkJwtValidation, type JwtValidationPolicy } from "../attestation/jwtValidation.ts";
import { type KmsError, unauthenticated } from "../errors.ts";
import { type TokenClaims, TokenClaimsCodec } from "../policy/claims.ts";

const CertCaller = t.type({
  policy: t.union([t.literal("user_cert"), t.literal("member_cert")]),
  id: t.string,
});
const JwtCaller = t.type({
  policy: t.literal("jwt"),
  jwt: t.type({ keyIssuer: t.string, payload: t.UnknownRecord }),
});

// The payload is decoded by the claims codec, whose refusal says what is wrong with it.
const AnyJwtCaller = t.type({
  policy: t.literal("jwt"),
  jwt: t.type({ keyIssuer: t.string, payload: t.unknown }),
});

/** A caller that presented an attestation token: its issuer and its claims. */
export interface TokenCaller {
  readonly issuer: string;
  readonly claims: TokenClaims;
}

/** The issuer and claims of a JWT-authenticated caller; 401 for any other caller. */
export const jwtCaller = (caller: unknown): E.Either<KmsError, TokenCaller> =>
  AnyJwtCaller.is(caller)
    ? pipe(
      TokenClaimsCodec.decode(caller.jwt.payload),
      E.bimap(
        () => unauthenticated("the attestation token's payload is not a JSON object"),
        (claims) => ({ issuer: caller.jwt.keyIssuer, claims }),
      ),
    )
    : E.left(unauthenticated("an attestation token is required: Authorization: Bearer <token>"));

/** Whether `caller` authenticated with a member certificate. */
export const isMember = (caller: unknown): boolean =>
  CertCaller.is(caller) && caller.policy === "member_cert";

/** The issuer whose JWT validation policy applies to `caller`, if it authenticated with a JWT. */
export const jwtIssuerOf = (caller: unknown): string | undefined =>
  JwtCaller.is(caller) ? caller.jwt.keyIssuer : undefined;

/**
 * The caller's policy and identity: certificate id, or token issuer and validity times. A token
 * must also satisfy its issuer's JWT validation policy (`jwtPolicy`), as it must to get a key: CCF
 * checks only the token's signature and times.
 */
export const describeCaller = (
  caller: unknown,
  jwtPolicy: JwtValidationPolicy | undefined,
): E.Either<KmsError, unknown> => {
  if (CertCaller.is(caller)) return E.right({ policy: caller.policy, id: caller.id });
  if (JwtCaller.is(caller)) {
    const { keyIssuer, payload } = caller.jwt;
    return pipe(
      checkJwtValidation(keyIssuer, jwtPolicy, payload),
      E.map(() => ({
        policy: "jwt",
        issuer: keyIssuer,
        iss: payload.iss,
        nbf: payload.nbf,
        exp: payload.exp,
      })),
    );
  }
  return E.left(unauthenticated("no credentials: use a user or member certificate, or a JWT"));
};
