/**
 * The HPKE algorithms behind an OHTTP key configuration (RFC 9458 §3, RFC 9180 §7), and the import
 * of a gateway's private key.
 *
 * @hpke/core runs on WebCrypto, so DHKEM(P-384, HKDF-SHA384) and DHKEM(X25519, HKDF-SHA256) need no
 * extra module under Deno. P-384 with HKDF-SHA384, the suite of every peer, uses the variants of
 * ./p384.ts, and AES-GCM those of ./aesGcm.ts, which spend less per request around the same
 * WebCrypto ECDH; a gateway opens P-384 requests with ./hpkeRecipient.ts, which spends less still
 * (`recipient` of a suite). ChaCha20-Poly1305 would need another package and no peer uses it (the
 * real client only manages (HKDF-SHA384, AES-256-GCM) with P-384, the ohttp crate's hpke backend), so
 * it is reported as unsupported instead.
 */
import * as E from "fp-ts/lib/Either.js";
import {
  CipherSuite,
  DhkemX25519HkdfSha256,
  HkdfSha256,
  HkdfSha512,
  type KemInterface,
} from "@hpke/core";
import { sha256, sha384, sha512 } from "@noble/hashes/sha2.js";
import { p384 } from "@noble/curves/nist.js";
import { x25519 } from "@noble/curves/ed25519.js";
import { base64urlnopad } from "@scure/base";
import { concat, equal } from "../../core/bytes.ts";
import { hexToBytes } from "@noble/hashes/utils.js";
import { Aes128GcmTuned, Aes256GcmTuned } from "./aesGcm.ts";
import { DhkemP384HkdfSha384Fast, HkdfSha384Tuned } from "./p384.ts";
import type { DhKem, HkdfHash, RecipientSuite } from "./hpkeRecipient.ts";
import { invalidInput, type KmsError } from "../../core/errors.ts";
import {
  Aead,
  type AeadId,
  Kdf,
  type KdfId,
  Kem,
  type KemId,
  type KeyConfig,
} from "../../core/ohttp/keyConfig.ts";

/** One supported (KEM, KDF, AEAD) combination with the lengths OHTTP needs. */
export interface HpkeSuite {
  readonly kem: KemId;
  readonly kdf: KdfId;
  readonly aead: AeadId;
  readonly cipherSuite: CipherSuite;
  /** Nenc: length of the encapsulated key in a request. */
  readonly encLength: number;
  /** Nk: AEAD key length. */
  readonly keyLength: number;
  /** Nn: AEAD nonce length. */
  readonly nonceLength: number;
  /** The KDF's hash by its node:crypto name, for the response key schedule (plain HKDF). */
  readonly digest: HkdfHash["name"];
  /** The suite for ./hpkeRecipient.ts, which opens requests faster than `cipherSuite`. */
  readonly recipient?: RecipientSuite;
}

/** An HPKE algorithm id as RFC 9180 writes it, e.g. `0x0011`, for error messages. */
export const hex4 = (n: number): string => `0x${n.toString(16).padStart(4, "0")}`;

const SHA256: HkdfHash = { name: "sha256", hash: sha256, size: 32 };
const SHA384: HkdfHash = { name: "sha384", hash: sha384, size: 48 };
const SHA512: HkdfHash = { name: "sha512", hash: sha512, size: 64 };

const kems: {
  readonly [id: number]: {
    make: () => KemInterface;
    encLength: number;
    skLength: number;
    /** Set where ./hpkeRecipient.ts can be the recipient (WebCrypto's NIST curves). */
    dhkem?: DhKem;
  };
} = {
  [Kem.P384_HKDF_SHA384]: {
    make: () => new DhkemP384HkdfSha384Fast(),
    encLength: 97,
    skLength: 48,
    dhkem: { id: Kem.P384_HKDF_SHA384, curve: "P-384", dhBits: 384, hash: SHA384, secretSize: 48 },
  },
  [Kem.X25519_HKDF_SHA256]: {
    make: () => new DhkemX25519HkdfSha256(),
    encLength: 32,
    skLength: 32,
  },
};

const kdfs = {
  [Kdf.HKDF_SHA256]: { make: () => new HkdfSha256(), hash: SHA256 },
  [Kdf.HKDF_SHA384]: { make: () => new HkdfSha384Tuned(), hash: SHA384 },
  [Kdf.HKDF_SHA512]: { make: () => new HkdfSha512(), hash: SHA512 },
} as const;

const aeads: { readonly [id: number]: { make: () => Aes128GcmTuned; keyLength: number } } = {
  [Aead.AES_128_GCM]: { make: () => new Aes128GcmTuned(), keyLength: 16 },
  [Aead.AES_256_GCM]: { make: () => new Aes256GcmTuned(), keyLength: 32 },
};

// A CipherSuite holds no secret, and building one per request would cost its setup each time.
const suites = new Map<string, HpkeSuite>();

/** The suite for these ids, or a Left naming the id that this library cannot run. */
export const hpkeSuite = (
  kem: number,
  kdf: number,
  aead: number,
): E.Either<KmsError, HpkeSuite> => {
  const name = `${kem}/${kdf}/${aead}`;
  const known = suites.get(name);
  if (known) return E.right(known);
  const k = kems[kem as KemId];
  if (!k) return E.left(invalidInput(`HPKE KEM ${hex4(kem)} is not supported`));
  const f = kdfs[kdf as KdfId];
  if (!f) return E.left(invalidInput(`HPKE KDF ${hex4(kdf)} is not supported`));
  const a = aeads[aead];
  if (!a) {
    return E.left(invalidInput(
      `HPKE AEAD ${hex4(aead)} is not supported; use 0x0001 (AES-128-GCM) or 0x0002 (AES-256-GCM)`,
    ));
  }
  const suite: HpkeSuite = {
    kem: kem as KemId,
    kdf: kdf as KdfId,
    aead: aead as AeadId,
    cipherSuite: new CipherSuite({ kem: k.make(), kdf: f.make(), aead: a.make() }),
    encLength: k.encLength,
    keyLength: a.keyLength,
    nonceLength: 12,
    digest: f.hash.name,
    ...(k.dhkem
      ? {
        recipient: { kem: k.dhkem, kdf, aead, hash: f.hash, keySize: a.keyLength, nonceSize: 12 },
      }
      : {}),
  };
  suites.set(name, suite);
  return E.right(suite);
};

/** The first suite of the config that this library supports, as the real client chooses. */
export const clientSuite = (config: KeyConfig): E.Either<KmsError, HpkeSuite> => {
  for (const s of config.suites) {
    const suite = hpkeSuite(config.kem, s.kdf, s.aead);
    if (E.isRight(suite)) return suite;
  }
  return E.left(invalidInput(
    `KeyConfig ${config.keyId} offers no supported symmetric suite (AES-GCM with HKDF-SHA2)`,
  ));
};

const webCryptoAlgorithm = (kem: KemId): EcKeyImportParams | Algorithm =>
  kem === Kem.P384_HKDF_SHA384 ? { name: "ECDH", namedCurve: "P-384" } : { name: "X25519" };

/**
 * Whether bytes are a public key of the KEM. Deno's WebCrypto imports a P-384 point off the curve
 * and fails only when deriving, with a misleading message; other runtimes differ. Checking here
 * keeps invalid-curve points away from the gateway's private key on every runtime. Every 32 bytes
 * are an X25519 public key.
 */
export const isPublicKey = (kem: KemId, bytes: Uint8Array): boolean => {
  if (kem !== Kem.P384_HKDF_SHA384) return bytes.length === 32;
  try {
    p384.Point.fromBytes(bytes);
    return bytes.length === 97;
  } catch {
    return false;
  }
};

// Configs are immutable, and importing (validating) the same point for every request is wasted work.
const publicKeys = new WeakMap<KeyConfig, Promise<E.Either<KmsError, CryptoKey>>>();

const importPoint = async (config: KeyConfig): Promise<E.Either<KmsError, CryptoKey>> => {
  const invalid = invalidInput(
    `KeyConfig ${config.keyId}: the public key is not a valid curve point`,
  );
  if (!isPublicKey(config.kem, config.publicKey)) return E.left(invalid);
  try {
    const algorithm = webCryptoAlgorithm(config.kem);
    return E.right(
      await crypto.subtle.importKey("raw", new Uint8Array(config.publicKey), algorithm, true, []),
    );
  } catch {
    return E.left(invalid);
  }
};

/** The config's public key as a WebCrypto key; a point off the curve is a Left. */
export const importPublicKey = (config: KeyConfig): Promise<E.Either<KmsError, CryptoKey>> => {
  const cached = publicKeys.get(config);
  if (cached) return cached;
  const imported = importPoint(config);
  publicKeys.set(config, imported);
  return imported;
};

/** The public key of a private key for the config's KEM, or undefined when the bytes are no key. */
const publicKeyOf = (kem: KemId, privateKey: Uint8Array): Uint8Array | undefined => {
  try {
    return kem === Kem.P384_HKDF_SHA384
      ? p384.getPublicKey(privateKey, false)
      : x25519.getPublicKey(privateKey);
  } catch {
    return undefined;
  }
};

/**
 * The DER of a PKCS #8 PrivateKeyInfo (RFC 5208) for a P-384 scalar, before the 48 scalar bytes:
 * SEQUENCE { version 0, AlgorithmIdentifier { id-ecPublicKey, secp384r1 }, OCTET STRING {
 * ECPrivateKey (RFC 5915) { version 1, privateKey OCTET STRING (48) } } }. Without the optional
 * public key, Deno's WebCrypto derives with the key at half the cost: imported from a JWK, or
 * from a PKCS #8 that carries the public key, every ECDH costs a second scalar multiplication.
 */
const P384_PKCS8_PREFIX = hexToBytes(
  "304e020100301006072a8648ce3d020106052b81040022043730350201010430",
);

const x25519Jwk = (d: Uint8Array, publicKey: Uint8Array): JsonWebKey => ({
  kty: "OKP",
  crv: "X25519",
  d: base64urlnopad.encode(d),
  x: base64urlnopad.encode(publicKey),
});

const importScalar = (kem: KemId, d: Uint8Array, publicKey: Uint8Array): Promise<CryptoKey> =>
  kem === Kem.P384_HKDF_SHA384
    ? crypto.subtle.importKey(
      "pkcs8",
      new Uint8Array(concat(P384_PKCS8_PREFIX, d)),
      webCryptoAlgorithm(kem),
      false,
      ["deriveBits"],
    )
    : crypto.subtle.importKey("jwk", x25519Jwk(d, publicKey), webCryptoAlgorithm(kem), false, [
      "deriveBits",
    ]);

/**
 * Imports a gateway's private key for the config: the P-384 scalar `d` (48 bytes, big-endian, as
 * the KMS releases it in CBOR) or an X25519 scalar (32 bytes). The key's public half must be the
 * config's, so that a gateway never serves a key id with the wrong key. The private key is not
 * extractable; the pair is what {@link decapsulateRequest} wants, since HPKE needs pkR too.
 */
export const importPrivateKey = async (
  config: KeyConfig,
  privateKey: Uint8Array,
): Promise<E.Either<KmsError, CryptoKeyPair>> => {
  const expected = kems[config.kem].skLength;
  if (privateKey.length !== expected) {
    return E.left(invalidInput(
      `private key for KEM ${hex4(config.kem)} must be ${expected} bytes, got ${privateKey.length}`,
    ));
  }
  const derived = publicKeyOf(config.kem, privateKey);
  if (!derived) {
    return E.left(invalidInput("private key is not a valid scalar for the curve"));
  }
  if (!equal(derived, config.publicKey)) {
    return E.left(invalidInput(
      `private key does not match the public key of KeyConfig ${config.keyId}`,
    ));
  }
  const publicKey = await importPublicKey(config);
  if (E.isLeft(publicKey)) return publicKey;
  try {
    const key = await importScalar(config.kem, privateKey, config.publicKey);
    return E.right({ privateKey: key, publicKey: publicKey.right });
  } catch {
    return E.left(invalidInput("private key was refused by WebCrypto"));
  }
};
