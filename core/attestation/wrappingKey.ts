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
  /** Always `RSA`. */
  readonly kty: "RSA";
  /** The modulus, base64url without padding. */
  readonly n: string;
  /** The public exponent, base64url without padding. */
  readonly e: string;
}

const KeyList = t.type({
  "x-ms-runtime": t.type({ keys: t.array(t.UnknownRecord) }),
});

const fromBase64url = (s: string): Uint8Array | undefined => {
  try {
    return base64urlnopad.decode(s);
  } catch {
    return undefined;
  }
};

const bitLength = (bytes: Uint8Array): number => {
  const top = bytes.findIndex((b) => b !== 0);
  return top < 0 ? 0 : (bytes.length - top - 1) * 8 + (32 - Math.clz32(bytes[top]));
};

// RFC 7518 §6.3.1.2: the fewest octets; RSA needs an odd exponent of at least 3, and OpenSSL
// refuses exponents above 64 bits. Checked here because the TEE's PEM conversion throws on a bad
// one, which would answer 500 for the caller's malformed key.
const isExponent = (e: Uint8Array): boolean =>
  e.length >= 1 && e.length <= 8 && e[0] !== 0 && (e[e.length - 1] & 1) === 1 &&
  !(e.length === 1 && e[0] === 1);

const checkKey = (jwk: RsaPublicJwk): E.Either<KmsError, RsaPublicJwk> => {
  const n = fromBase64url(jwk.n);
  const e = fromBase64url(jwk.e);
  if (n === undefined) return E.left(invalidInput(`the ${wrappingKeyId} modulus is not base64url`));
  const bits = bitLength(n);
  if (bits < minModulusBits || bits > maxModulusBits) {
    return E.left(invalidInput(
      `the ${wrappingKeyId} is a ${bits}-bit RSA key; it must have ${minModulusBits} to ` +
        `${maxModulusBits} bits`,
    ));
  }
  // An RSA modulus is a product of odd primes. OpenSSL cannot encrypt to an even one, so the
  // TEE's wrap would throw and answer 500 for the caller's malformed key.
  if ((n[n.length - 1] & 1) === 0) {
    return E.left(invalidInput(`the ${wrappingKeyId} modulus is even, so it is not an RSA key`));
  }
  return e !== undefined && isExponent(e) ? E.right({ kty: "RSA", n: jwk.n, e: jwk.e }) : E.left(
    invalidInput(
      `the ${wrappingKeyId} exponent must be base64url of an odd integer from 3 to 64 bits ` +
        "in its fewest octets (usually AQAB)",
    ),
  );
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
    E.flatMap(checkKey),
  );
