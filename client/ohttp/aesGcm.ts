/**
 * AES-GCM for OHTTP requests and response chunks, on whichever is faster for the message:
 * node:crypto (native and synchronous) for short ones, WebCrypto (native, asynchronous, faster on
 * long messages) for long ones. Measured in Deno on this project's machine (BENCHMARKS.md, "The
 * gateway's P-384"): opening 256 bytes takes 7 µs with node:crypto, 26 µs with @noble/ciphers and
 * 35 µs with WebCrypto; 8 KiB 40 and 46 µs (node:crypto, WebCrypto); 16 KiB 78 and 58 µs. Prompts
 * and streamed response chunks are mostly short.
 */
import { createCipheriv, createDecipheriv } from "node:crypto";
import { Aes128Gcm, Aes256Gcm } from "@hpke/core";
import type { AeadEncryptionContext } from "@hpke/common";

/** Messages up to this length go to node:crypto; longer ones to WebCrypto. */
const nodeLimit = 8192;
const TAG_LENGTH = 16;

const bytes = (b: ArrayBufferLike | ArrayBufferView): Uint8Array<ArrayBuffer> =>
  new Uint8Array(
    ArrayBuffer.isView(b)
      ? new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
      : new Uint8Array(b),
  );

/** AES-GCM with one key: seal, and open (undefined when the tag does not verify). */
export interface AesGcm {
  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array>;
  open(nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array | undefined>;
}

/**
 * The nonce of message `seq` (a safe integer) under `base`: base XOR seq, big-endian in the last
 * bytes, as HPKE (RFC 9180 §5.2) and the OHTTP response chunks (RFC 9458) both build it.
 */
export const sequenceNonce = (base: Uint8Array, seq: number): Uint8Array => {
  const nonce = new Uint8Array(base);
  for (let i = nonce.length - 1, rest = seq; rest > 0; i--, rest = Math.floor(rest / 256)) {
    nonce[i] ^= rest % 256;
  }
  return nonce;
};

/** AES-GCM (16-byte tag) with `key` (16 or 32 bytes). */
export const aesGcm = (key: Uint8Array): AesGcm => {
  const raw = bytes(key);
  const algorithm = raw.length === 16 ? "aes-128-gcm" : "aes-256-gcm";
  let imported: Promise<CryptoKey> | undefined;
  const webKey = () =>
    imported ??= crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
  const params = (nonce: Uint8Array, aad: Uint8Array): AesGcmParams => ({
    name: "AES-GCM",
    iv: bytes(nonce),
    additionalData: bytes(aad),
  });
  const sealNode = (nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array => {
    const cipher = createCipheriv(algorithm, raw, nonce).setAAD(aad);
    const body = cipher.update(plaintext);
    cipher.final();
    const sealed = new Uint8Array(body.length + TAG_LENGTH);
    sealed.set(body);
    sealed.set(cipher.getAuthTag(), body.length);
    return sealed;
  };
  const openNode = (nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array => {
    const at = ciphertext.length - TAG_LENGTH;
    const decipher = createDecipheriv(algorithm, raw, nonce).setAAD(aad);
    decipher.setAuthTag(ciphertext.subarray(at));
    const body = decipher.update(ciphertext.subarray(0, at));
    decipher.final(); // throws when the tag does not verify
    return new Uint8Array(body.buffer, body.byteOffset, body.length);
  };
  return {
    seal: async (nonce, aad, plaintext) =>
      plaintext.length <= nodeLimit ? sealNode(nonce, aad, plaintext) : new Uint8Array(
        await crypto.subtle.encrypt(params(nonce, aad), await webKey(), bytes(plaintext)),
      ),
    open: async (nonce, aad, ciphertext) => {
      if (ciphertext.length < TAG_LENGTH) return undefined;
      try {
        return ciphertext.length <= nodeLimit + TAG_LENGTH
          ? openNode(nonce, aad, ciphertext)
          : new Uint8Array(
            await crypto.subtle.decrypt(params(nonce, aad), await webKey(), bytes(ciphertext)),
          );
      } catch {
        return undefined;
      }
    },
  };
};

const hpkeContext = (key: ArrayBuffer): AeadEncryptionContext => {
  const cipher = aesGcm(new Uint8Array(key));
  return {
    seal: async (iv, data, aad) =>
      (await cipher.seal(bytes(iv), bytes(aad), bytes(data))).slice().buffer,
    open: async (iv, data, aad) => {
      const plaintext = await cipher.open(bytes(iv), bytes(aad), bytes(data));
      if (plaintext === undefined) throw new Error("the AES-GCM tag does not verify");
      return plaintext.slice().buffer;
    },
  };
};

/** HPKE's AES-128-GCM (RFC 9180 0x0001) on {@link aesGcm}. */
export class Aes128GcmTuned extends Aes128Gcm {
  override createEncryptionContext(key: ArrayBuffer): AeadEncryptionContext {
    return hpkeContext(key);
  }
}

/** HPKE's AES-256-GCM (RFC 9180 0x0002) on {@link aesGcm}. */
export class Aes256GcmTuned extends Aes256Gcm {
  override createEncryptionContext(key: ArrayBuffer): AeadEncryptionContext {
    return hpkeContext(key);
  }
}
