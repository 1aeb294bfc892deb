/**
 * AES-GCM for OHTTP requests and response chunks, on whichever is faster for the message:
 * @noble/ciphers (synchronous JavaScript) for short ones, WebCrypto (native, but tens of
 * microseconds of asynchronous overhead per call) for long ones. Measured in Deno on this
 * project's machine: 256 bytes open in 22 µs with noble and 90 µs with WebCrypto, 4 KiB in 122 and
 * 90 µs (test/bench/p384_bench.ts and BENCHMARKS.md). Prompts and streamed response chunks are
 * mostly short.
 */
import { gcm } from "@noble/ciphers/aes.js";
import { Aes128Gcm, Aes256Gcm } from "@hpke/core";
import type { AeadEncryptionContext } from "@hpke/common";

/** Messages up to this length go to @noble/ciphers; longer ones to WebCrypto. */
const nobleLimit = 2048;

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

/** AES-GCM (16-byte tag) with `key` (16 or 32 bytes). */
export const aesGcm = (key: Uint8Array): AesGcm => {
  const raw = bytes(key);
  let imported: Promise<CryptoKey> | undefined;
  const webKey = () =>
    imported ??= crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
  const params = (nonce: Uint8Array, aad: Uint8Array): AesGcmParams => ({
    name: "AES-GCM",
    iv: bytes(nonce),
    additionalData: bytes(aad),
  });
  return {
    seal: async (nonce, aad, plaintext) =>
      plaintext.length <= nobleLimit ? gcm(raw, nonce, aad).encrypt(plaintext) : new Uint8Array(
        await crypto.subtle.encrypt(params(nonce, aad), await webKey(), bytes(plaintext)),
      ),
    open: async (nonce, aad, ciphertext) => {
      try {
        return ciphertext.length <= nobleLimit + 16
          ? gcm(raw, nonce, aad).decrypt(ciphertext)
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
