/**
 * DHKEM(P-384, HKDF-SHA384) and HKDF-SHA384 for the OHTTP suites, tuned for a gateway's requests.
 *
 * Measured in Deno on this project's machine (test/bench/p384_bench.ts, BENCHMARKS.md): WebCrypto
 * is the fastest P-384 ECDH Deno offers (node:crypto's and @noble/curves' are slower), so the
 * Diffie-Hellman stays @hpke's `Ec` on WebCrypto. What a request spends besides it is cut: HKDF
 * runs on @noble/hashes, synchronously, instead of a WebCrypto key import and HMAC per step, and
 * a public key's serialization is remembered instead of exported again (HPKE serializes the
 * recipient's key and the sender's ephemeral key for every request).
 */
import { Dhkem, Ec, HkdfSha384Native, KemId } from "@hpke/common";
import { expand, extract, hkdf } from "@noble/hashes/hkdf.js";
import { sha384 } from "@noble/hashes/sha2.js";

const bytes = (b: ArrayBufferLike | ArrayBufferView): Uint8Array =>
  ArrayBuffer.isView(b) ? new Uint8Array(b.buffer, b.byteOffset, b.byteLength) : new Uint8Array(b);

const buffer = (b: Uint8Array): ArrayBuffer => b.slice().buffer;

/** HKDF-SHA384 (RFC 5869) on @noble/hashes; HPKE's labeling stays @hpke's. */
export class HkdfSha384Noble extends HkdfSha384Native {
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
    return Promise.resolve(buffer(hkdf(sha384, bytes(ikm), bytes(salt), bytes(info), len)));
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
    const kdf = new HkdfSha384Noble();
    super(KemId.DhkemP384HkdfSha384, new RememberingEc(KemId.DhkemP384HkdfSha384, kdf), kdf);
  }
}
