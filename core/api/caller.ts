/** What `/auth` tells a caller about itself: enough to debug authentication, no credentials. */
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import { type KmsError, unauthenticated } from "../errors.ts";

const CertCaller = t.type({
  policy: t.union([t.literal("user_cert"), t.literal("member_cert")]),
  id: t.string,
});
const JwtCaller = t.type({
  policy: t.literal("jwt"),
  jwt: t.type({ keyIssuer: t.string, payload: t.UnknownRecord }),
});

/** The caller's policy and identity: certificate id, or token issuer and validity times. */
export const describeCaller = (caller: unknown): E.Either<KmsError, unknown> => {
  if (CertCaller.is(caller)) return E.right({ policy: caller.policy, id: caller.id });
  if (JwtCaller.is(caller)) {
    const { keyIssuer, payload } = caller.jwt;
    return E.right({
      policy: "jwt",
      issuer: keyIssuer,
      iss: payload.iss,
      nbf: payload.nbf,
      exp: payload.exp,
    });
  }
  return E.left(unauthenticated("no credentials: use a user or member certificate, or a JWT"));
};
