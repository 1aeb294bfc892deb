/**
 * DHKEM(P-384, HKDF-SHA384) and HKDF-SHA384 for the OHTTP suites on @hpke/core, tuned for the
 * client's requests and for a gateway given a lone private key (./hpkeRecipient.ts opens the rest).
 *
 * Measured in Deno on this project's machine (test/bench/p384_bench.ts, BENCHMARKS.md): WebCrypto
 * is the fastest P-384 ECDH Deno offers (node:crypto's and @noble/curves' are slower), so the
 * Diffie-Hellman stays @hpke's `Ec` on WebCrypto. What a request spends besides it is cut: HKDF
 * runs synchronously instead of through a WebCrypto key import and HMAC per step: a whole HKDF
 * (what HPKE's KEM and key schedule ask for, four per request) on node:crypto's native `hkdfSync`
 * (5 µs, against 21 µs on @noble/hashes), a lone extract or expand on @noble/hashes (node:crypto
 * has no HKDF-Expand alone); the two hashes of the key schedule that are the same for every
 * request are kept; and a public key's serialization is remembered instead of exported again
 * (HPKE serializes the recipient's key and the sender's ephemeral key for every request).
 */
import { Dhkem, Ec, HkdfSha384Native, KemId } from "@hpke/common";
import { hkdfSync } from "node:crypto";
import { expand, extract } from "@noble/hashes/hkdf.js";
import { sha384 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";

const bytes = (b: ArrayBufferLike | ArrayBufferView): Uint8Array =>
  ArrayBuffer.isView(b) ? new Uint8Array(b.buffer, b.byteOffset, b.byteLength) : new Uint8Array(b);

const buffer = (b: Uint8Array): ArrayBuffer => b.slice().buffer;

const PSK_ID_HASH = new TextEncoder().encode("psk_id_hash");
const INFO_HASH = new TextEncoder().encode("info_hash");
const same = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length && a.every((x, i) => x === b[i]);
/** Distinct (suite, info) pairs remembered; a gateway serves a handful of key configs. */
const MAX_REMEMBERED = 64;

/** HKDF-SHA384 (RFC 5869) on node:crypto and @noble/hashes; HPKE's labeling stays @hpke's. */
export class HkdfSha384Tuned extends HkdfSha384Native {
  readonly #remembered = new Map<string, ArrayBuffer>();

  /**
   * RFC 9180 §5.1: in base mode `psk_id_hash` (of the empty psk_id) and `info_hash` (of the
   * request's info, fixed by the key config) are the same for every request, so each is computed
   * once; every other labeled extraction (the KEM's, per shared secret) is computed each time.
   */
  override labeledExtract(
    salt: ArrayBufferLike | ArrayBufferView,
    label: Uint8Array,
    ikm: Uint8Array,
  ): Promise<ArrayBuffer> {
    if (salt.byteLength !== 0 || !(same(label, PSK_ID_HASH) || same(label, INFO_HASH))) {
      return super.labeledExtract(salt, label, ikm);
    }
    const labeled = this.buildLabeledIkm(label, ikm);
    const id = bytesToHex(labeled);
    let known = this.#remembered.get(id);
    if (known === undefined) {
      known = buffer(extract(sha384, labeled, new Uint8Array(this.hashSize)));
      if (this.#remembered.size >= MAX_REMEMBERED) this.#remembered.clear();
      this.#remembered.set(id, known);
    }
    return Promise.resolve(known.slice(0));
  }

  override extract(salt: ArrayBuffer, ikm: ArrayBuffer): Promise<ArrayBuffer> {
    // RFC 5869: an empty salt is HashLen zeros.
    const key = salt.byteLength === 0 ? new Uint8Array(this.hashSize) : bytes(salt);
    return Promise.resolve(buffer(extract(sha384, bytes(ikm), key)));
  }

  override expand(prk: ArrayBuffer, info: ArrayBuffer, len: number): Promise<ArrayBuffer> {
    return Promise.resolve(buffer(expand(sha384, bytes(prk), bytes(info), len)));
  }

  override extractAndExpand(
    salt: ArrayBuffer,
    ikm: ArrayBuffer,
    info: ArrayBuffer,
    len: number,
  ): Promise<ArrayBuffer> {
    // An empty salt is HashLen zeros (RFC 5869), which HMAC treats alike.
    return Promise.resolve(hkdfSync("sha384", bytes(ikm), bytes(salt), bytes(info), len));
  }
}

/** @hpke's WebCrypto P-384 primitives, remembering each public key's serialized form. */
class RememberingEc extends Ec {
  // Keys are immutable, so their serialization never changes.
  readonly #serialized = new WeakMap<CryptoKey, ArrayBuffer>();

  override async serializePublicKey(key: CryptoKey): Promise<ArrayBuffer> {
    const known = this.#serialized.get(key);
    if (known !== undefined) return buffer(new Uint8Array(known));
    const serialized = await super.serializePublicKey(key);
    this.#serialized.set(key, serialized);
    return buffer(new Uint8Array(serialized));
  }

  override async deserializePublicKey(
    key: ArrayBufferLike | ArrayBufferView,
  ): Promise<CryptoKey> {
    const imported = await super.deserializePublicKey(key);
    this.#serialized.set(imported, buffer(bytes(key)));
    return imported;
  }
}

/** DHKEM(P-384, HKDF-SHA384): WebCrypto's ECDH, HKDF on @noble/hashes. */
export class DhkemP384HkdfSha384Fast extends Dhkem {
  // RFC 9180 §7.1: Nsecret, Nenc, Npk, Nsk (the base class leaves them 0).
  override readonly secretSize: number = 48;
  override readonly encSize: number = 97;
  override readonly publicKeySize: number = 97;
  override readonly privateKeySize: number = 48;

  constructor() {
    const kdf = new HkdfSha384Tuned();
    super(KemId.DhkemP384HkdfSha384, new RememberingEc(KemId.DhkemP384HkdfSha384, kdf), kdf);
  }
}
