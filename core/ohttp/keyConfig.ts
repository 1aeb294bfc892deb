/**
 * OHTTP key configurations (RFC 9458 §3): the `publicKey` that /listpubkeys advertises, and the
 * `application/ohttp-keys` list form.
 *
 * A single config is encoded without a length prefix: the real client decodes `publicKey` with
 * `KeyConfig::decode`, which fails on any leftover byte (microsoft/ohttp, config.rs). Only the
 * list form puts a 2-byte length before each config.
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { isNonEmpty } from "fp-ts/lib/ReadonlyArray.js";
import { concat, fromHex, toHex } from "../bytes.ts";
import { gather, type ReadonlyNonEmptyArray } from "../either.ts";
import { invalidInput, type KmsError } from "../errors.ts";

/** HPKE KEM ids (RFC 9180 §7.1) accepted in a config. */
export const Kem = {
  P384_HKDF_SHA384: 0x0011,
  X25519_HKDF_SHA256: 0x0020,
} as const;
/** One of {@link Kem}. */
export type KemId = (typeof Kem)[keyof typeof Kem];

/** HPKE KDF ids (RFC 9180 §7.2). */
export const Kdf = { HKDF_SHA256: 1, HKDF_SHA384: 2, HKDF_SHA512: 3 } as const;
/** One of {@link Kdf}. */
export type KdfId = (typeof Kdf)[keyof typeof Kdf];

/** HPKE AEAD ids (RFC 9180 §7.3); the export-only id is useless for OHTTP and rejected. */
export const Aead = {
  AES_128_GCM: 1,
  AES_256_GCM: 2,
  CHACHA20_POLY1305: 3,
} as const;
/** One of {@link Aead}. */
export type AeadId = (typeof Aead)[keyof typeof Aead];

/** Npk of each KEM: P-384 keys are SEC1 uncompressed points `04 ‖ X ‖ Y`. */
const publicKeyLength: { readonly [K in KemId]: number } = {
  [Kem.P384_HKDF_SHA384]: 97,
  [Kem.X25519_HKDF_SHA256]: 32,
};

/** A symmetric algorithm pair a client may use with the key. */
export interface SymmetricSuite {
  /** HPKE KDF id, one of {@link Kdf}. */
  readonly kdf: KdfId;
  /** HPKE AEAD id, one of {@link Aead}. */
  readonly aead: AeadId;
}

/** The fields of a key configuration, before validation (ids are plain numbers). */
export interface KeyConfigFields {
  readonly keyId: number;
  readonly kem: number;
  readonly publicKey: Uint8Array;
  readonly suites: readonly { readonly kdf: number; readonly aead: number }[];
}

/**
 * The brand of a {@link KeyConfig}. It has no runtime value and is exported as a type only, so
 * that only this module's checking constructors can make a `KeyConfig` (short of a cast).
 */
declare const validKeyConfig: unique symbol;
export type { validKeyConfig };
/** A checked key configuration; build it with {@link keyConfig} or a decoder. */
export interface KeyConfig {
  /** The one-byte OHTTP key id, 0..255. */
  readonly keyId: number;
  /** HPKE KEM id, one of {@link Kem}. */
  readonly kem: KemId;
  /** The KEM public key: 97 bytes `04 ‖ X ‖ Y` (SEC1 uncompressed) for P-384, 32 for X25519. */
  readonly publicKey: Uint8Array;
  /** In preference order: clients use the first suite they support. */
  readonly suites: ReadonlyNonEmptyArray<SymmetricSuite>;
  /** Present only on configs that passed the checks; see {@link validKeyConfig}. */
  readonly [validKeyConfig]: true;
}

const fail = (message: string): E.Either<KmsError, never> =>
  E.left(invalidInput(`KeyConfig: ${message}`));

const hex4 = (n: number): string => `0x${n.toString(16).padStart(4, "0")}`;

const isKem = (id: number): id is KemId => id in publicKeyLength;
const kdfIds: readonly number[] = Object.values(Kdf);
const aeadIds: readonly number[] = Object.values(Aead);
const isKdf = (id: number): id is KdfId => kdfIds.includes(id);
const isAead = (id: number): id is AeadId => aeadIds.includes(id);

const unknownKem = (kem: number): E.Either<KmsError, never> =>
  fail(
    `KEM id ${
      hex4(kem)
    } is not supported; use 0x0011 (DHKEM(P-384, HKDF-SHA384)) or 0x0020 (DHKEM(X25519, HKDF-SHA256))`,
  );

const checkKeyId = (keyId: number): E.Either<KmsError, number> =>
  Number.isInteger(keyId) && keyId >= 0 && keyId <= 255
    ? E.right(keyId)
    : fail(`key id must be an integer 0..255, got ${keyId}`);

const checkPublicKey = (
  kem: KemId,
  key: Uint8Array,
): E.Either<KmsError, Uint8Array> => {
  const length = publicKeyLength[kem];
  if (key.length !== length) {
    return fail(
      `public key for KEM ${hex4(kem)} must be ${length} bytes, got ${key.length}`,
    );
  }
  return kem === Kem.P384_HKDF_SHA384 && key[0] !== 0x04
    ? fail("P-384 public key must be an uncompressed point starting with 04")
    : E.right(key);
};

const checkSuite = (
  i: number,
  s: { readonly kdf: number; readonly aead: number },
  all: readonly { readonly kdf: number; readonly aead: number }[],
): E.Either<KmsError, SymmetricSuite> => {
  const { kdf, aead } = s;
  if (!isKdf(kdf)) {
    return fail(
      `suite ${i}: KDF id ${hex4(kdf)} is not supported; use 0x0001..0x0003`,
    );
  }
  if (!isAead(aead)) {
    return fail(
      `suite ${i}: AEAD id ${hex4(aead)} is not supported; use 0x0001..0x0003`,
    );
  }
  // Distinct suites bound a config to 9 suites, so every config fits a list entry's 2-byte length.
  return all.findIndex((t) => t.kdf === kdf && t.aead === aead) === i
    ? E.right({ kdf, aead })
    : fail(`suite (KDF ${hex4(kdf)}, AEAD ${hex4(aead)}) is listed twice`);
};

const checkSuites = (
  suites: KeyConfigFields["suites"],
): E.Either<KmsError, ReadonlyNonEmptyArray<SymmetricSuite>> =>
  isNonEmpty(suites)
    ? E.traverseReadonlyNonEmptyArrayWithIndex((i, s: typeof suites[number]) =>
      checkSuite(i, s, suites)
    )(suites)
    : fail("needs at least one symmetric suite");

/**
 * Checks a configuration: key id 0..255, a known KEM with a public key of its length, and a
 * non-empty list of distinct suites with known KDF and AEAD ids.
 */
export const keyConfig = (
  fields: KeyConfigFields,
): E.Either<KmsError, KeyConfig> =>
  pipe(
    isKem(fields.kem) ? E.right(fields.kem) : unknownKem(fields.kem),
    E.chain((kem) =>
      gather({
        keyId: checkKeyId(fields.keyId),
        kem: E.right<KmsError, KemId>(kem),
        publicKey: checkPublicKey(kem, fields.publicKey),
        suites: checkSuites(fields.suites),
      })
    ),
    E.map((c) => c as KeyConfig),
  );

/** The KMS's configuration: DHKEM(P-384, HKDF-SHA384), HKDF-SHA384, AES-256-GCM. */
export const p384KeyConfig = (
  keyId: number,
  publicKey: Uint8Array,
): E.Either<KmsError, KeyConfig> =>
  keyConfig({
    keyId,
    kem: Kem.P384_HKDF_SHA384,
    publicKey,
    suites: [{ kdf: Kdf.HKDF_SHA384, aead: Aead.AES_256_GCM }],
  });

const u16 = (n: number): Uint8Array => Uint8Array.of(n >> 8, n & 0xff);
const readU16 = (b: Uint8Array, at: number): number => (b[at] << 8) | b[at + 1];

/** One config without a length prefix: `key_id ‖ kem ‖ public key ‖ suites length ‖ suites`. */
export const encodeKeyConfig = (config: KeyConfig): Uint8Array =>
  concat(
    Uint8Array.of(config.keyId),
    u16(config.kem),
    config.publicKey,
    u16(4 * config.suites.length),
    ...config.suites.map((s) => concat(u16(s.kdf), u16(s.aead))),
  );

const truncated = (what: string): E.Either<KmsError, never> =>
  fail(`truncated: the input ends inside the ${what}`);

/** Decodes exactly one config without a length prefix; trailing bytes are rejected. */
export const decodeKeyConfig = (
  bytes: Uint8Array,
): E.Either<KmsError, KeyConfig> => {
  if (bytes.length < 3) return truncated("key id and KEM id");
  const kem = readU16(bytes, 1);
  if (!isKem(kem)) return unknownKem(kem);
  const keyEnd = 3 + publicKeyLength[kem];
  if (bytes.length < keyEnd + 2) {
    return truncated("public key and suite list length");
  }
  const suitesLength = readU16(bytes, keyEnd);
  if (suitesLength === 0 || suitesLength % 4 !== 0) {
    return fail(
      `suite list length must be a non-zero multiple of 4, got ${suitesLength}`,
    );
  }
  const suitesAt = keyEnd + 2;
  const end = suitesAt + suitesLength;
  if (bytes.length < end) return truncated("suite list");
  if (bytes.length > end) {
    return fail(
      `${
        bytes.length - end
      } trailing bytes after the config; send one config without a length prefix`,
    );
  }
  return keyConfig({
    keyId: bytes[0],
    kem,
    publicKey: bytes.slice(3, keyEnd),
    suites: Array.from({ length: suitesLength / 4 }, (_, i) => ({
      kdf: readU16(bytes, suitesAt + 4 * i),
      aead: readU16(bytes, suitesAt + 4 * i + 2),
    })),
  });
};

/** Lowercase hex of the config: the `publicKey` string of /listpubkeys and its claims digest. */
export const keyConfigToHex = (config: KeyConfig): string => toHex(encodeKeyConfig(config));

/** Decodes a `publicKey` hex string (either case) holding one config. */
export const keyConfigFromHex = (hex: string): E.Either<KmsError, KeyConfig> =>
  pipe(fromHex(hex, "KeyConfig"), E.chain(decodeKeyConfig));

/** The `application/ohttp-keys` form: each config preceded by its 2-byte big-endian length. */
export const encodeKeyConfigList = (
  configs: ReadonlyNonEmptyArray<KeyConfig>,
): Uint8Array =>
  concat(
    ...configs.map((c) => {
      const encoded = encodeKeyConfig(c);
      return concat(u16(encoded.length), encoded);
    }),
  );

/** Decodes an `application/ohttp-keys` body: one or more length-prefixed configs. */
export const decodeKeyConfigList = (
  bytes: Uint8Array,
): E.Either<KmsError, ReadonlyNonEmptyArray<KeyConfig>> => {
  const configs: KeyConfig[] = [];
  for (let at = 0; at < bytes.length;) {
    const entry = `application/ohttp-keys entry ${configs.length}`;
    if (at + 2 > bytes.length) {
      return E.left(
        invalidInput(`${entry}: truncated inside its 2-byte length`),
      );
    }
    const end = at + 2 + readU16(bytes, at);
    if (end > bytes.length) {
      return E.left(invalidInput(
        `${entry}: declares ${end - at - 2} bytes but only ${bytes.length - at - 2} remain`,
      ));
    }
    const config = decodeKeyConfig(bytes.subarray(at + 2, end));
    if (E.isLeft(config)) {
      return E.left(invalidInput(`${entry}: ${config.left.message}`));
    }
    configs.push(config.right);
    at = end;
  }
  return isNonEmpty(configs) ? E.right(configs) : E.left(
    invalidInput("application/ohttp-keys must hold at least one KeyConfig"),
  );
};
