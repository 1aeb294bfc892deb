/**
 * Per-issuer JWT validation policies (`public:ccf.gov.policies.jwt_validation`, keyed by issuer).
 *
 * CCF checks a bearer token's signature, `nbf` and `exp` against the keys of trusted issuers, but
 * never its `iss`, `aud` or `sub`: the app must. A policy maps claim names to the required string,
 * or to a list of accepted strings, e.g. `{"iss": "https://sharedeus2.eus2.attest.azure.net"}`.
 * An issuer with no policy is refused: trusting an issuer's keys is not enough to release keys.
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import * as t from "io-ts";
import { boundedString, closed, decodeWith } from "../codec.ts";
import { type KmsError, unauthenticated } from "../errors.ts";

const Accepted = t.union([
  boundedString("value", 1024),
  t.array(boundedString("value", 1024)),
]);

/** Names that would reach an object's prototype, or read as its constructor, in JavaScript. */
const reservedNames = ["__proto__", "constructor", "prototype"];

const claimNames =
  "claim names are 1 to 256 visible ASCII characters, no spaces, and not __proto__, constructor " +
  "or prototype (e.g. iss, aud, x-ms-attestation-type)";

const isClaimName = (name: string): boolean =>
  /^[\x21-\x7e]{1,256}$/.test(name) && !reservedNames.includes(name);

const ClaimName = t.refinement(t.string, isClaimName, `claim name (${claimNames})`);

const Claims = t.refinement(
  t.record(ClaimName, Accepted),
  (p) => Object.keys(p).length > 0 && Object.keys(p).length <= 32,
  "validation_policy (an object of 1 to 32 claims, each a string or a list of strings)",
);

/**
 * Codec of one issuer's validation policy: claim name → required value(s). Names are checked
 * before the record is built, which would drop a bad one silently (and `__proto__` would vanish
 * into the prototype).
 */
export const JwtValidationPolicy = new t.Type<t.TypeOf<typeof Claims>, t.OutputOf<typeof Claims>>(
  Claims.name,
  (u): u is t.TypeOf<typeof Claims> => Claims.is(u),
  (u, c) => {
    const refused = typeof u === "object" && u !== null
      ? Object.keys(u).filter((k) => !isClaimName(k))
      : [];
    return refused.length > 0
      ? t.failure(
        u,
        c,
        `validation_policy: ${refused.map((k) => JSON.stringify(k)).join(", ")} cannot be a ` +
          `claim name; ${claimNames}`,
      )
      : Claims.validate(u, c);
  },
  Claims.encode,
);
/** One issuer's validation policy. */
export type JwtValidationPolicy = t.TypeOf<typeof JwtValidationPolicy>;

const Args = closed({
  issuer: boundedString("issuer", 1024),
  validation_policy: JwtValidationPolicy,
});
const SeedFileArgs = closed({ jwt_validation_policy: Args });

/** The `set_jwt_validation_policy` argument: the issuer and its policy. */
export type JwtValidationArgs = t.TypeOf<typeof Args>;

/**
 * Decodes the `set_jwt_validation_policy` argument; the seed's sample file, which wraps it in
 * `jwt_validation_policy`, is accepted too.
 */
export const decodeJwtValidationArgs = (
  args: unknown,
): E.Either<KmsError, JwtValidationArgs> =>
  pipe(
    args,
    decodeWith(
      t.union([Args, SeedFileArgs]),
      "set_jwt_validation_policy argument",
    ),
    E.map((a) => ("jwt_validation_policy" in a ? a.jwt_validation_policy : a)),
  );

const accepts = (
  accepted: string | readonly string[],
  actual: unknown,
): boolean =>
  typeof actual === "string" &&
  (typeof accepted === "string" ? accepted === actual : accepted.includes(actual));

/**
 * Checks a token payload authenticated for `issuer` against that issuer's policy (undefined when
 * governance set none). Every claim of the policy must hold.
 */
export const checkJwtValidation = (
  issuer: string,
  policy: JwtValidationPolicy | undefined,
  payload: Readonly<Record<string, unknown>>,
): E.Either<KmsError, void> => {
  if (policy === undefined) {
    return E.left(unauthenticated(
      `no JWT validation policy is set for issuer ${issuer}: propose set_jwt_validation_policy`,
    ));
  }
  const failed = Object.keys(policy).filter((claim) => !accepts(policy[claim], payload[claim]));
  return failed.length === 0 ? E.right(undefined) : E.left(unauthenticated(
    `the token does not satisfy the JWT validation policy of issuer ${issuer} ` +
      `(claims ${failed.join(", ")})`,
  ));
};
