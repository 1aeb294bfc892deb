/**
 * Synchronous implementations of CCF's `ccf.crypto` (and `ccf.pemToId`) on `node:crypto`.
 *
 * Each function follows what CCF's C++ extension does, including its quirks: `digest` and
 * `verifySignature` know SHA-256 only, ECDSA signatures are IEEE P1363 (`r‖s`), RSA-OAEP uses
 * SHA-256 for both the hash and MGF1 and takes the wrapping key as PEM bytes, an empty OAEP label
 * means none, AES-KWP takes its AES size from the wrapping key, and JWKs come out with their
 * members in alphabetical order (CCF serialises them through an ordered JSON map).
 *
 * Failures throw {@link HostCryptoError}, whose `errorName` says which JavaScript error CCF raises
 * (`RangeError` for unsupported parameters, `InternalError` for failures of the operation), so the
 * app runtime can rethrow the same inside QuickJS.
 *
 * Certificates here are node:crypto's `X509Certificate`, not @peculiar/x509 as in the rest of the
 * project: CCF's `isValidX509CertChain` is synchronous and must check RSA as well as EC
 * signatures, and node:crypto is the only stack at hand that verifies a certificate's signature
 * synchronously (@peculiar/x509 verifies through WebCrypto, asynchronously, and keeps the signed
 * bytes private).
 *
 * RSA public keys are the exception to node:crypto: Deno's node:crypto and WebCrypto both refuse
 * an RSA public key over 4096 bits or with an exponent over 33 bits (measured on Deno 2.9), while
 * OpenSSL, and so CCF, encrypts to any modulus up to 16384 bits and to exponents up to 64 bits.
 * The RSA public-key functions therefore read and write the key's ASN.1 themselves and encrypt
 * with micro-rsa-dsa-dh's RSA-OAEP, after the checks OpenSSL makes. Private-key operations stay on
 * node:crypto, which takes every size.
 */
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  privateDecrypt,
  randomBytes,
  sign as nodeSign,
  verify as nodeVerify,
  X509Certificate,
} from "node:crypto";
import { sha256 } from "@noble/hashes/sha2.js";
import { base64, base64urlnopad } from "@scure/base";
import { AsnConvert } from "@peculiar/asn1-schema";
import { RSAPublicKey } from "@peculiar/asn1-rsa";
import { AlgorithmIdentifier, SubjectPublicKeyInfo } from "@peculiar/asn1-x509";
import { mgf1, OAEP } from "micro-rsa-dsa-dh/rsa.js";

/** The JavaScript error class CCF throws for a failure. */
export type JsErrorName = "TypeError" | "RangeError" | "InternalError";

/** A failure of a host crypto function, tagged with the error class CCF would throw. */
export class HostCryptoError extends Error {
  constructor(readonly errorName: JsErrorName, message: string) {
    super(message);
    this.name = "HostCryptoError";
  }
}

/** A key pair as PEM strings (PKCS#8 private key, SPKI public key). */
export interface KeyPairPem {
  readonly privateKey: string;
  readonly publicKey: string;
}

/** The `algorithm` argument of `wrapKey` / `unwrapKey`. */
export interface WrapAlgorithm {
  readonly name: string;
  readonly label?: Uint8Array;
  readonly aesKeySize?: number;
}

/** The `algorithm` argument of `sign` / `verifySignature`. */
export interface SigningAlgorithm {
  readonly name: string;
  readonly hash?: string;
  readonly saltLength?: number;
}

/** A JSON Web Key as CCF produces and accepts it. */
export type Jwk = Record<string, string>;

const rangeError = (message: string) => new HostCryptoError("RangeError", message);
const internal = (prefix: string, e: unknown) =>
  e instanceof HostCryptoError ? e : new HostCryptoError(
    "InternalError",
    `${prefix}${e instanceof Error ? e.message : String(e)}`,
  );

/** Runs `f`, turning any failure that is not already tagged into CCF's InternalError. */
const guarded = <T>(prefix: string, f: () => T): T => {
  try {
    return f();
  } catch (e) {
    throw internal(prefix, e);
  }
};

const pemPair = (pair: { privateKey: KeyObject; publicKey: KeyObject }): KeyPairPem => ({
  privateKey: pair.privateKey.export({ type: "pkcs8", format: "pem" }) as string,
  publicKey: pair.publicKey.export({ type: "spki", format: "pem" }) as string,
});

/** `generateAesKey(bits)`: random bytes; only 128, 192 and 256 bits. */
export function generateAesKey(bits: number): Uint8Array {
  if (bits !== 128 && bits !== 192 && bits !== 256) {
    throw rangeError("invalid key size (not one of 128, 192, 256)");
  }
  return new Uint8Array(randomBytes(bits / 8));
}

/** `generateRsaKeyPair(bits, exponent = 65537)`. */
export function generateRsaKeyPair(bits: number, exponent = 65537): KeyPairPem {
  return guarded("Failed to generate RSA key pair: ", () =>
    pemPair(
      generateKeyPairSync("rsa", { modulusLength: bits, publicExponent: exponent }),
    ));
}

const ecCurves: Record<string, string> = {
  secp256r1: "prime256v1",
  secp384r1: "secp384r1",
  secp521r1: "secp521r1",
};

/** `generateEcdsaKeyPair(curve)` for `secp256r1`, `secp384r1` and `secp521r1`. */
export function generateEcdsaKeyPair(curve: string): KeyPairPem {
  const namedCurve = ecCurves[curve];
  if (!Object.hasOwn(ecCurves, curve)) {
    throw rangeError("Unsupported curve id, supported: secp256r1, secp384r1, secp521r1");
  }
  return guarded(
    "Failed to generate ECDSA key pair: ",
    () => pemPair(generateKeyPairSync("ec", { namedCurve })),
  );
}

/** `generateEddsaKeyPair(curve)`: `curve25519` (Ed25519) or `x25519`. */
export function generateEddsaKeyPair(curve: string): KeyPairPem {
  if (curve !== "curve25519" && curve !== "x25519") {
    throw rangeError("Unsupported curve id, supported: curve25519, x25519");
  }
  return guarded(
    "Failed to generate EdDSA key pair: ",
    () =>
      curve === "x25519"
        ? pemPair(generateKeyPairSync("x25519"))
        : pemPair(generateKeyPairSync("ed25519")),
  );
}

/** `digest(algorithm, data)`: SHA-256 only, like CCF (whatever its typings list). */
export function digest(algorithm: string, data: Uint8Array): Uint8Array {
  if (algorithm !== "SHA-256") {
    throw rangeError("unsupported digest algorithm, supported: SHA-256");
  }
  return new Uint8Array(createHash("sha256").update(data).digest());
}

const label = (l: Uint8Array | undefined) => (l && l.length > 0 ? l : undefined);

/** An RSA public key: its modulus and public exponent. */
interface RsaPublic {
  readonly n: bigint;
  readonly e: bigint;
}

const RSA_ENCRYPTION = "1.2.840.113549.1.1.1";
const PUBLIC_KEY_PEM = /-----BEGIN PUBLIC KEY-----([A-Za-z0-9+/=\s]*)-----END PUBLIC KEY-----/;

const toBigInt = (bytes: Uint8Array): bigint =>
  bytes.reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);

/** The big-endian bytes of `x > 0`, fewest first octet. */
const fromBigInt = (x: bigint): Uint8Array => {
  const hex = x.toString(16);
  const padded = hex.length % 2 === 0 ? hex : `0${hex}`;
  return Uint8Array.from(padded.match(/../g) ?? [], (h) => parseInt(h, 16));
};

/** A DER INTEGER's content for a non-negative integer: a 0x00 first when the top bit is set. */
const derUnsigned = (bytes: Uint8Array): ArrayBuffer =>
  (bytes[0] & 0x80 ? Uint8Array.of(0, ...bytes) : Uint8Array.from(bytes)).buffer;

/** The key of a `PUBLIC KEY` PEM (SPKI), the only form CCF reads an RSA public key from. */
const rsaPublicFromPem = (pem: string): RsaPublic => {
  const body = PUBLIC_KEY_PEM.exec(pem)?.[1];
  if (body === undefined) throw new Error("invalid RSA key (expected a PUBLIC KEY PEM)");
  const spki = AsnConvert.parse(base64.decode(body.replace(/\s/g, "")), SubjectPublicKeyInfo);
  if (spki.algorithm.algorithm !== RSA_ENCRYPTION) throw new Error("invalid RSA key");
  const key = AsnConvert.parse(spki.subjectPublicKey, RSAPublicKey);
  return {
    n: toBigInt(new Uint8Array(key.modulus)),
    e: toBigInt(new Uint8Array(key.publicExponent)),
  };
};

/** The SPKI PEM of an RSA public key, as OpenSSL writes it. */
const rsaPublicToPem = ({ n, e }: RsaPublic): string => {
  const key = new RSAPublicKey({
    modulus: derUnsigned(fromBigInt(n)),
    publicExponent: derUnsigned(fromBigInt(e)),
  });
  const spki = new SubjectPublicKeyInfo({
    algorithm: new AlgorithmIdentifier({
      algorithm: RSA_ENCRYPTION,
      parameters: Uint8Array.of(5, 0).buffer, // DER NULL
    }),
    subjectPublicKey: AsnConvert.serialize(key),
  });
  const lines = base64.encode(new Uint8Array(AsnConvert.serialize(spki))).match(/.{1,64}/g) ?? [];
  return `-----BEGIN PUBLIC KEY-----\n${lines.join("\n")}\n-----END PUBLIC KEY-----\n`;
};

const bitLength = (x: bigint): number => (x === 0n ? 0 : x.toString(2).length);

/**
 * What OpenSSL checks before encrypting to an RSA public key (and what makes its Montgomery
 * arithmetic fail), so that a key CCF cannot encrypt to fails here too.
 */
const checkEncryptionKey = ({ n, e }: RsaPublic): void => {
  if (bitLength(n) > 16384) throw new Error("modulus too large");
  if (e >= n || (bitLength(n) > 3072 && bitLength(e) > 64)) throw new Error("bad e value");
  if (n % 2n === 0n) throw new Error("the modulus is even");
};

const oaepEncrypt = (publicPem: string, data: Uint8Array, l?: Uint8Array): Uint8Array => {
  const key = rsaPublicFromPem(publicPem);
  checkEncryptionKey(key);
  return OAEP(sha256, mgf1(sha256), label(l)).encrypt(key, data);
};

const oaepDecrypt = (key: KeyObject, data: Uint8Array, l?: Uint8Array): Uint8Array => {
  if (key.asymmetricKeyType !== "rsa") throw new Error("unwrapping key is not an RSA private key");
  return new Uint8Array(
    privateDecrypt(
      { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256", oaepLabel: label(l) },
      data,
    ),
  );
};

/** RFC 5649's alternative initial value, the default of OpenSSL's wrap-pad ciphers. */
const KWP_IV = new Uint8Array([0xa6, 0x59, 0x59, 0xa6]);

const kwpCipher = (kek: Uint8Array): string => {
  if (![16, 24, 32].includes(kek.length)) {
    throw new Error(`invalid AES key wrapping key size ${kek.length * 8}`);
  }
  return `id-aes${kek.length * 8}-wrap-pad`;
};

/** AES key wrap with padding (RFC 5649); the AES size is the wrapping key's. */
function aesKwpWrap(kek: Uint8Array, key: Uint8Array): Uint8Array {
  const c = createCipheriv(kwpCipher(kek), kek, KWP_IV);
  return new Uint8Array([...c.update(key), ...c.final()]);
}

/** Inverse of {@link aesKwpWrap}; throws when the integrity check fails. */
function aesKwpUnwrap(kek: Uint8Array, wrapped: Uint8Array): Uint8Array {
  const d = createDecipheriv(kwpCipher(kek), kek, KWP_IV);
  return new Uint8Array([...d.update(wrapped), ...d.final()]);
}

const utf8 = new TextDecoder();

/**
 * `wrapKey(key, wrappingKey, algorithm)`. For RSA-OAEP and RSA-OAEP-AES-KWP `wrappingKey` holds
 * the PEM of an RSA public key; for AES-KWP it is the raw AES key.
 */
export function wrapKey(
  key: Uint8Array,
  wrappingKey: Uint8Array,
  algorithm: WrapAlgorithm,
): Uint8Array {
  const { name } = algorithm;
  if (name !== "RSA-OAEP" && name !== "AES-KWP" && name !== "RSA-OAEP-AES-KWP") {
    throw rangeError(
      "unsupported key wrapping algorithm, supported: RSA-OAEP, AES-KWP, RSA-OAEP-AES-KWP",
    );
  }
  return guarded("Failed to wrap key: ", () => {
    if (name === "RSA-OAEP") {
      return oaepEncrypt(utf8.decode(wrappingKey), key, algorithm.label);
    }
    if (name === "AES-KWP") return aesKwpWrap(wrappingKey, key);
    const aesKey = generateAesKey(algorithm.aesKeySize ?? 0);
    const head = oaepEncrypt(utf8.decode(wrappingKey), aesKey, algorithm.label);
    return new Uint8Array([...head, ...aesKwpWrap(aesKey, key)]);
  });
}

/** `unwrapKey(wrapped, unwrappingKey, algorithm)`: the inverse of {@link wrapKey}. */
export function unwrapKey(
  wrapped: Uint8Array,
  unwrappingKey: Uint8Array,
  algorithm: WrapAlgorithm,
): Uint8Array {
  const { name } = algorithm;
  if (name !== "RSA-OAEP" && name !== "AES-KWP" && name !== "RSA-OAEP-AES-KWP") {
    throw rangeError(
      "unsupported key unwrapping algorithm, supported: RSA-OAEP, AES-KWP, RSA-OAEP-AES-KWP",
    );
  }
  return guarded("Failed to unwrap key: ", () => {
    if (name === "AES-KWP") return aesKwpUnwrap(unwrappingKey, wrapped);
    const key = createPrivateKey(utf8.decode(unwrappingKey));
    if (name === "RSA-OAEP") return oaepDecrypt(key, wrapped, algorithm.label);
    const modulusBytes = (key.asymmetricKeyDetails?.modulusLength ?? 0) / 8;
    const aesKey = oaepDecrypt(key, wrapped.subarray(0, modulusBytes), algorithm.label);
    return aesKwpUnwrap(aesKey, wrapped.subarray(modulusBytes));
  });
}

const hashes: Record<string, string> = {
  "SHA-256": "sha256",
  "SHA-384": "sha384",
  "SHA-512": "sha512",
};

const privateKeyOf = (pem: string, type: string): KeyObject => {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== type) throw new Error(`key is not a ${type} private key`);
  return key;
};

/**
 * `sign(algorithm, keyPem, data)`: ECDSA (P1363 output), RSA-PSS (salt length from the
 * algorithm, 0 when missing), EdDSA (no hash) and HMAC (the key string's bytes are the key).
 */
export function sign(algorithm: SigningAlgorithm, keyPem: string, data: Uint8Array): Uint8Array {
  if (algorithm.name === "EdDSA") {
    return guarded(
      "Failed to sign with EdDSA pair: ",
      () => new Uint8Array(nodeSign(null, data, privateKeyOf(keyPem, "ed25519"))),
    );
  }
  const hash = hashes[algorithm.hash ?? ""];
  if (!Object.hasOwn(hashes, algorithm.hash ?? "")) {
    throw rangeError("Unsupported hash algorithm, supported: SHA-256, SHA-384, SHA-512");
  }
  const { name } = algorithm;
  if (name !== "ECDSA" && name !== "RSA-PSS" && name !== "HMAC") {
    throw rangeError("Unsupported signing algorithm, supported: RSA-PSS, ECDSA, EdDSA, HMAC");
  }
  return guarded("Failed to sign: ", () => {
    if (name === "HMAC") {
      return new Uint8Array(
        createHmac(hash, new TextEncoder().encode(keyPem)).update(data).digest(),
      );
    }
    if (name === "ECDSA") {
      const key = privateKeyOf(keyPem, "ec");
      return new Uint8Array(nodeSign(hash, data, { key, dsaEncoding: "ieee-p1363" }));
    }
    const key = privateKeyOf(keyPem, "rsa");
    const saltLength = Math.trunc(algorithm.saltLength ?? 0) || 0;
    return new Uint8Array(
      nodeSign(hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }),
    );
  });
}

const publicKeyOf = (pem: string): KeyObject =>
  pem.startsWith("-----BEGIN CERTIFICATE") ? new X509Certificate(pem).publicKey : publicOnly(pem);

/** A public key from a public key PEM; CCF does not derive one from a private key here. */
const publicOnly = (pem: string): KeyObject => {
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) throw new Error("not a public key PEM");
  return createPublicKey(pem);
};

/**
 * `verifySignature(algorithm, keyOrCertPem, signature, data)`: SHA-256 only; ECDSA expects P1363,
 * RSA-PSS uses the algorithm's salt length; `keyOrCertPem` may be a certificate.
 */
export function verifySignature(
  algorithm: SigningAlgorithm,
  keyOrCertPem: string,
  signature: Uint8Array,
  data: Uint8Array,
): boolean {
  if (algorithm.name === "EdDSA") {
    try {
      return nodeVerify(null, data, publicKeyOf(keyOrCertPem), signature);
    } catch (e) {
      throw rangeError(`Failed to verify EdDSA signature: ${(e as Error).message}`);
    }
  }
  if (algorithm.hash !== "SHA-256") {
    throw rangeError("Unsupported hash algorithm, supported: SHA-256");
  }
  if (algorithm.name !== "RSA-PSS" && algorithm.name !== "ECDSA") {
    throw rangeError("Unsupported signing algorithm, supported: RSA-PSS, ECDSA, EdDSA");
  }
  const ecdsa = algorithm.name === "ECDSA";
  return guarded("Failed to verify signature: ", () => {
    const key = publicKeyOf(keyOrCertPem);
    if (ecdsa) {
      if (key.asymmetricKeyType !== "ec") throw new Error("key is not an EC public key");
      return nodeVerify("sha256", data, { key, dsaEncoding: "ieee-p1363" }, signature);
    }
    if (key.asymmetricKeyType !== "rsa") throw new Error("key is not an RSA public key");
    const saltLength = Math.trunc(algorithm.saltLength ?? 0) || 0;
    return nodeVerify(
      "sha256",
      data,
      { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength },
      signature,
    );
  });
}

const sortedJwk = (jwk: Record<string, unknown>, kid: string | undefined): Jwk => {
  const all: Record<string, unknown> = kid === undefined ? { ...jwk } : { ...jwk, kid };
  const out: Jwk = {};
  for (const k of Object.keys(all).sort()) out[k] = String(all[k]);
  return out;
};

type KeyKind = "ec" | "rsa" | "eddsa";

const kindMatches = (key: KeyObject, kind: KeyKind): boolean =>
  kind === "eddsa"
    ? key.asymmetricKeyType === "ed25519" || key.asymmetricKeyType === "x25519"
    : key.asymmetricKeyType === kind;

const pemToJwkOf = (kind: KeyKind, isPrivate: boolean) => (pem: string, kid?: string): Jwk =>
  guarded("Failed to convert pem to jwk: ", () => {
    const key = isPrivate ? createPrivateKey(pem) : publicOnly(pem);
    if (!kindMatches(key, kind)) throw new Error(`not a ${kind} key`);
    return sortedJwk(key.export({ format: "jwk" }) as Record<string, unknown>, kid);
  });

const jwkToPemOf = (kind: KeyKind, isPrivate: boolean) => (jwk: unknown): string =>
  guarded("Failed to convert jwk to pem ", () => {
    if (typeof jwk !== "object" || jwk === null) throw new Error("JWK must be an object");
    // deno-lint-ignore no-explicit-any
    const input = { key: jwk as any, format: "jwk" as const };
    const key = isPrivate ? createPrivateKey(input) : createPublicKey(input);
    if (!kindMatches(key, kind)) throw new Error(`not a ${kind} key`);
    return key.export(
      isPrivate ? { type: "pkcs8", format: "pem" } : { type: "spki", format: "pem" },
    ) as string;
  });

/** `pubPemToJwk(pem, kid?)`: EC public key PEM → JWK. */
export const pubPemToJwk = pemToJwkOf("ec", false);
/** `pemToJwk(pem, kid?)`: EC private key PEM → JWK (with `d`). */
export const pemToJwk = pemToJwkOf("ec", true);
/** `pubRsaPemToJwk(pem, kid?)`: RSA public key PEM → JWK, for every size OpenSSL reads. */
export const pubRsaPemToJwk = (pem: string, kid?: string): Jwk =>
  guarded("Failed to convert pem to jwk: ", () => {
    const { n, e } = rsaPublicFromPem(pem);
    const encode = (x: bigint) => base64urlnopad.encode(fromBigInt(x));
    return sortedJwk({ e: encode(e), kty: "RSA", n: encode(n) }, kid);
  });
/** `rsaPemToJwk(pem, kid?)`: RSA private key PEM → JWK. */
export const rsaPemToJwk = pemToJwkOf("rsa", true);
/** `pubEddsaPemToJwk(pem, kid?)`: Ed25519/X25519 public key PEM → JWK. */
export const pubEddsaPemToJwk = pemToJwkOf("eddsa", false);
/** `eddsaPemToJwk(pem, kid?)`: Ed25519/X25519 private key PEM → JWK. */
export const eddsaPemToJwk = pemToJwkOf("eddsa", true);
/** `pubJwkToPem(jwk)`: EC public JWK → SPKI PEM. */
export const pubJwkToPem = jwkToPemOf("ec", false);
/** `jwkToPem(jwk)`: EC private JWK → PKCS#8 PEM. */
export const jwkToPem = jwkToPemOf("ec", true);
/**
 * `pubRsaJwkToPem(jwk)`: RSA public JWK → SPKI PEM, for every size; like OpenSSL it takes any
 * positive `n` and `e` (whether they make a usable key is for the operation to find out).
 */
export const pubRsaJwkToPem = (jwk: unknown): string =>
  guarded("Failed to convert jwk to pem ", () => {
    if (typeof jwk !== "object" || jwk === null) throw new Error("JWK must be an object");
    const { kty, n, e } = jwk as Record<string, unknown>;
    if (kty !== "RSA") throw new Error("not a rsa key");
    const integer = (name: string, v: unknown): bigint => {
      const value = typeof v === "string" ? toBigInt(base64urlnopad.decode(v)) : 0n;
      if (value === 0n) throw new Error(`JWK member ${name} must be a positive base64url integer`);
      return value;
    };
    return rsaPublicToPem({ n: integer("n", n), e: integer("e", e) });
  });
/** `rsaJwkToPem(jwk)`: RSA private JWK → PKCS#8 PEM. */
export const rsaJwkToPem = jwkToPemOf("rsa", true);
/** `pubEddsaJwkToPem(jwk)`: OKP public JWK → SPKI PEM. */
export const pubEddsaJwkToPem = jwkToPemOf("eddsa", false);
/** `eddsaJwkToPem(jwk)`: OKP private JWK → PKCS#8 PEM. */
export const eddsaJwkToPem = jwkToPemOf("eddsa", true);

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** The certificates of a PEM bundle, in order; throws if one does not parse. */
function splitCertBundle(pem: string): X509Certificate[] {
  return (pem.match(CERT_BLOCK) ?? []).map((block) => new X509Certificate(block));
}

/** `isValidX509CertBundle(pem)`: at least one certificate and all of them parse. */
export function isValidX509CertBundle(pem: string): boolean {
  try {
    return splitCertBundle(pem).length > 0;
  } catch {
    return false;
  }
}

const currentlyValid = (cert: X509Certificate, now: number): boolean =>
  Date.parse(cert.validFrom) <= now && now <= Date.parse(cert.validTo);

const issues = (issuer: X509Certificate, subject: X509Certificate): boolean => {
  try {
    return subject.checkIssued(issuer) && subject.verify(issuer.publicKey);
  } catch {
    return false;
  }
};

/**
 * `isValidX509CertChain(chain, trusted)`: `chain[0]` is the target, the rest intermediates; true
 * when signatures lead from the target to a trusted certificate and every certificate on the way
 * is currently valid.
 */
export function isValidX509CertChain(chain: string, trusted: string, now = Date.now()): boolean {
  let certs: X509Certificate[];
  let anchors: X509Certificate[];
  try {
    certs = splitCertBundle(chain);
    anchors = splitCertBundle(trusted);
  } catch {
    return false;
  }
  if (certs.length === 0 || anchors.length === 0) return false;
  const [target, ...intermediates] = certs;
  let current = target;
  const used = new Set<X509Certificate>();
  while (currentlyValid(current, now)) {
    const anchor = anchors.find((a) => issues(a, current) || a.raw.equals(current.raw));
    if (anchor) return currentlyValid(anchor, now);
    const next = intermediates.find((c) => !used.has(c) && issues(c, current));
    if (!next) return false;
    used.add(next);
    current = next;
  }
  return false;
}

/** `ccf.pemToId(certPem)`: lowercase hex SHA-256 of the certificate's DER (a user/member id). */
export function pemToId(certPem: string): string {
  return guarded("Failed to parse PEM: ", () => {
    const der = new X509Certificate(certPem).raw;
    return createHash("sha256").update(der).digest("hex");
  });
}
