/**
 * HPKE's base-mode recipient (RFC 9180 §5.1, SetupBaseR, then Open and Export) for a DHKEM over a
 * NIST curve with HKDF-SHA2 and AES-GCM: what a gateway does for every OHTTP request.
 *
 * Why not @hpke/core here: its recipient context is a chain of promises per request (the KEM's
 * steps, each HKDF of the key schedule, a mutex around the AEAD) with ArrayBuffer copies between
 * them, and none of its classes can be driven synchronously. Measured side by side in Deno
 * (BENCHMARKS.md, "The gateway's P-384"), that cost about 50 µs per request beyond the work
 * itself, a tenth of the ECDH. Here the ECDH stays WebCrypto's (the fastest P-384 in Deno, run off
 * the main thread) and everything after it is synchronous: each HKDF that extracts and expands is
 * one call to node:crypto's native `hkdfSync`. @hpke/core stays the sender and the recipient of
 * the other KEMs; the tests hold this module to RFC 9180's vectors and to @hpke/core's results.
 */
import { createHmac, hkdfSync } from "node:crypto";
import { expand } from "@noble/hashes/hkdf.js";
import type { CHash } from "@noble/hashes/utils.js";
import { concat, toHex, utf8 } from "../../core/bytes.ts";
import { aesGcm, sequenceNonce } from "./aesGcm.ts";

/** A hash of HKDF: its name in node:crypto, its @noble/hashes function and Nh. */
export interface HkdfHash {
  readonly name: "sha256" | "sha384" | "sha512";
  readonly hash: CHash;
  readonly size: number;
}

/** A DHKEM (RFC 9180 §4.1) on a WebCrypto curve. */
export interface DhKem {
  readonly id: number;
  readonly curve: "P-256" | "P-384" | "P-521";
  /** Bits of the curve's x coordinate: the length of the Diffie-Hellman output. */
  readonly dhBits: number;
  readonly hash: HkdfHash;
  /** Nsecret. */
  readonly secretSize: number;
}

/** The algorithms of one suite, with the lengths of its AEAD (AES-GCM). */
export interface RecipientSuite {
  readonly kem: DhKem;
  readonly kdf: number;
  readonly aead: number;
  readonly hash: HkdfHash;
  /** Nk. */
  readonly keySize: number;
  /** Nn. */
  readonly nonceSize: number;
}

/** The recipient's side of an HPKE context; the shape of @hpke/core's, which it stands in for. */
export interface RecipientContext {
  /** The plaintext of the next message; throws when its tag does not verify. */
  open(ciphertext: Uint8Array, aad?: Uint8Array): Promise<ArrayBuffer>;
  export(exporterContext: Uint8Array, length: number): Promise<ArrayBuffer>;
}

const EMPTY = new Uint8Array(0);
const HPKE_V1 = utf8("HPKE-v1");
const u16 = (n: number): Uint8Array => Uint8Array.of(n >> 8, n & 0xff);

const labeledIkm = (suiteId: Uint8Array, label: Uint8Array, ikm: Uint8Array): Uint8Array =>
  concat(HPKE_V1, suiteId, label, ikm);

const labeledInfo = (
  suiteId: Uint8Array,
  label: Uint8Array,
  info: Uint8Array,
  length: number,
): Uint8Array => concat(u16(length), HPKE_V1, suiteId, label, info);

/** Labels are built once per suite: encoding them takes longer than an HKDF. */
const once = <K extends object, V>(build: (key: K) => V): (key: K) => V => {
  const built = new WeakMap<K, V>();
  return (key) => {
    let value = built.get(key);
    if (value === undefined) {
      value = build(key);
      built.set(key, value);
    }
    return value;
  };
};

/** `"HPKE" ‖ kem_id ‖ kdf_id ‖ aead_id`. */
const suiteId = once((s: RecipientSuite) =>
  concat(utf8("HPKE"), u16(s.kem.id), u16(s.kdf), u16(s.aead))
);

/** The KEM's labeled inputs up to what varies per request: the ECDH output, `enc ‖ pkRm`. */
const kemLabels = once((kem: DhKem) => {
  const id = concat(utf8("KEM"), u16(kem.id));
  return {
    ikm: labeledIkm(id, utf8("eae_prk"), EMPTY),
    info: labeledInfo(id, utf8("shared_secret"), EMPTY, kem.secretSize),
  };
});

/**
 * DHKEM's ExtractAndExpand (RFC 9180 §4.1), the KEM's shared secret from the ECDH output, in one
 * native HKDF. The empty salt stands for Nh zero bytes (RFC 5869), which HMAC's key padding makes
 * equal.
 */
export const kemSharedSecret = (
  kem: DhKem,
  dh: Uint8Array,
  enc: Uint8Array,
  pkRm: Uint8Array,
): Uint8Array => {
  const labels = kemLabels(kem);
  return new Uint8Array(
    hkdfSync(
      kem.hash.name,
      concat(labels.ikm, dh),
      EMPTY,
      concat(labels.info, enc, pkRm),
      kem.secretSize,
    ),
  );
};

/** What the key schedule yields for a context. */
export interface KeySchedule {
  readonly key: Uint8Array;
  readonly baseNonce: Uint8Array;
  readonly exporterSecret: Uint8Array;
}

const PSK_ID_HASH = utf8("psk_id_hash");
const INFO_HASH = utf8("info_hash");
/** LabeledExtract with an empty salt: HMAC keyed with nothing, as with Nh zeros. */
const labeledExtractUnsalted = (
  hash: HkdfHash,
  id: Uint8Array,
  label: Uint8Array,
  ikm: Uint8Array,
): Uint8Array =>
  new Uint8Array(createHmac(hash.name, EMPTY).update(labeledIkm(id, label, ikm)).digest());

const SECRET = utf8("secret");
const KEY = utf8("key");
const BASE_NONCE = utf8("base_nonce");
const EXP = utf8("exp");
const SEC = utf8("sec");

/** The inputs of a key schedule's HKDFs besides the shared secret. */
interface ScheduleInputs {
  /** LabeledExtract's input `HPKE-v1 ‖ suite_id ‖ "secret" ‖ psk` with an empty psk. */
  readonly secretIkm: Uint8Array;
  /** LabeledExpand's info for key, base_nonce and exporter_secret. */
  readonly keyInfo: Uint8Array;
  readonly baseNonceInfo: Uint8Array;
  readonly expInfo: Uint8Array;
}

/** (suite, info) pairs whose inputs are kept; a gateway serves a handful of key configs. */
const MAX_KEPT = 64;
const kept = new Map<string, ScheduleInputs>();

/**
 * In base mode, key_schedule_context is `0x00 ‖ psk_id_hash ‖ info_hash`, and both hashes are the
 * same for every request to a key config (an empty psk_id, the config's info); so are the labeled
 * inputs built from it, which are built once. Only the shared secret changes per request.
 */
const scheduleInputs = (s: RecipientSuite, id: Uint8Array, info: Uint8Array): ScheduleInputs => {
  const name = `${toHex(id)}/${toHex(info)}`;
  let inputs = kept.get(name);
  if (inputs === undefined) {
    const context = concat(
      Uint8Array.of(0),
      labeledExtractUnsalted(s.hash, id, PSK_ID_HASH, EMPTY),
      labeledExtractUnsalted(s.hash, id, INFO_HASH, info),
    );
    inputs = {
      secretIkm: labeledIkm(id, SECRET, EMPTY),
      keyInfo: labeledInfo(id, KEY, context, s.keySize),
      baseNonceInfo: labeledInfo(id, BASE_NONCE, context, s.nonceSize),
      expInfo: labeledInfo(id, EXP, context, s.hash.size),
    };
    if (kept.size >= MAX_KEPT) kept.clear();
    kept.set(name, inputs);
  }
  return inputs;
};

/** KeySchedule in base mode (no PSK) for a shared secret and info (RFC 9180 §5.1). */
export const keySchedule = (
  s: RecipientSuite,
  sharedSecret: Uint8Array,
  info: Uint8Array,
): KeySchedule => {
  const inputs = scheduleInputs(s, suiteId(s), info);
  // secret = LabeledExtract(shared_secret, "secret", psk), expanded once for each output.
  const derive = (expandInfo: Uint8Array, length: number) =>
    new Uint8Array(hkdfSync(s.hash.name, inputs.secretIkm, sharedSecret, expandInfo, length));
  return {
    key: derive(inputs.keyInfo, s.keySize),
    baseNonce: derive(inputs.baseNonceInfo, s.nonceSize),
    exporterSecret: derive(inputs.expInfo, s.hash.size),
  };
};

/** The context for a key schedule's output (RFC 9180 §5.2, §5.3). */
export const recipientContext = (s: RecipientSuite, schedule: KeySchedule): RecipientContext => {
  const cipher = aesGcm(schedule.key);
  let seq = 0;
  const id = suiteId(s);
  return {
    open: async (ciphertext, aad = EMPTY) => {
      const plaintext = await cipher.open(sequenceNonce(schedule.baseNonce, seq), aad, ciphertext);
      if (plaintext === undefined) throw new Error("the AES-GCM tag does not verify");
      seq++;
      return plaintext.slice().buffer;
    },
    export: (exporterContext, length) =>
      Promise.resolve(
        expand(
          s.hash.hash,
          schedule.exporterSecret,
          labeledInfo(id, SEC, exporterContext, length),
          length,
        )
          .slice().buffer,
      ),
  };
};

// A recipient's public key is immutable, so its serialization never changes.
const serialized = new WeakMap<CryptoKey, Uint8Array>();

const exportPublicKey = async (key: CryptoKey): Promise<Uint8Array> => {
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", key));
  serialized.set(key, raw);
  return raw;
};

/**
 * SetupBaseR (RFC 9180 §5.1.1) with the recipient's key pair: ECDH on WebCrypto with the sender's
 * ephemeral key `enc` (an uncompressed point the caller has checked is on the curve), then the
 * KEM's and the key schedule's derivations. Throws when WebCrypto refuses `enc` or the key.
 */
export const setupBaseR = async (
  s: RecipientSuite,
  recipient: CryptoKeyPair,
  enc: Uint8Array,
  info: Uint8Array,
): Promise<RecipientContext> => {
  const algorithm = { name: "ECDH", namedCurve: s.kem.curve };
  const pkRm = serialized.get(recipient.publicKey) ?? await exportPublicKey(recipient.publicKey);
  const pkE = await crypto.subtle.importKey("raw", new Uint8Array(enc), algorithm, false, []);
  const dh = new Uint8Array(
    await crypto.subtle.deriveBits(
      { name: "ECDH", public: pkE },
      recipient.privateKey,
      s.kem.dhBits,
    ),
  );
  return recipientContext(s, keySchedule(s, kemSharedSecret(s.kem, dh, enc, pkRm), info));
};
