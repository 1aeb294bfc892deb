/**
 * The key a private key is released to: the attested VM's TPM-held RSA key, which MAA puts in the
 * token as a JWK with `kid: "TpmEphemeralEncryptionKey"` in `x-ms-runtime.keys`.
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { base64urlnopad } from "@scure/base";
import * as t from "io-ts";
import { invalidInput, type KmsError } from "../errors.ts";

/** The `kid` MAA gives the TPM's ephemeral encryption key. */
export const wrappingKeyId = "TpmEphemeralEncryptionKey";
/** RSA-OAEP with SHA-256 needs at least this modulus (bits) to be acceptable for wrapping. */
const minModulusBits = 2048;
const maxModulusBits = 8192;

const RsaJwk = t.type({ kty: t.literal("RSA"), n: t.string, e: t.string });
/** The public RSA key to wrap to, as a JWK. */
export interface RsaPublicJwk {
  readonly kty: "RSA";
  readonly n: string;
  readonly e: string;
}

const KeyList = t.type({
  "x-ms-runtime": t.type({ keys: t.array(t.UnknownRecord) }),
});

const modulusBits = (n: string): number | undefined => {
  try {
    const bytes = base64urlnopad.decode(n);
    const top = bytes.findIndex((b) => b !== 0);
    return top < 0 ? 0 : (bytes.length - top - 1) * 8 + (32 - Math.clz32(bytes[top]));
  } catch {
    return undefined;
  }
};

const checkSize = (jwk: RsaPublicJwk): E.Either<KmsError, RsaPublicJwk> => {
  const bits = modulusBits(jwk.n);
  return bits === undefined
    ? E.left(invalidInput(`the ${wrappingKeyId} modulus is not base64url`))
    : bits < minModulusBits || bits > maxModulusBits
    ? E.left(invalidInput(
      `the ${wrappingKeyId} is a ${bits}-bit RSA key; it must have ${minModulusBits} to ` +
        `${maxModulusBits} bits`,
    ))
    : E.right({ kty: "RSA", n: jwk.n, e: jwk.e });
};

/** Finds and checks the TPM wrapping key in an attestation token's payload. */
export const wrappingKeyOf = (
  payload: Readonly<Record<string, unknown>>,
): E.Either<KmsError, RsaPublicJwk> =>
  pipe(
    KeyList.decode(payload),
    E.mapLeft(() => invalidInput("the attestation token has no x-ms-runtime.keys list")),
    E.flatMap(({ "x-ms-runtime": { keys } }) =>
      pipe(
        keys.find((k) => k.kid === wrappingKeyId),
        E.fromNullable(
          invalidInput(
            `the attestation token has no key with kid ${wrappingKeyId}`,
          ),
        ),
      )
    ),
    E.flatMap((k) =>
      pipe(
        RsaJwk.decode(k),
        E.mapLeft(() =>
          invalidInput(
            `the ${wrappingKeyId} must be an RSA public key (kty RSA, n, e)`,
          )
        ),
      )
    ),
    E.flatMap(checkSize),
  );
