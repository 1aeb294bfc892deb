import assert from "node:assert/strict";
import fc from "fast-check";
import { aesGcm } from "../../../client/ohttp/aesGcm.ts";

const webCrypto = async (key: Uint8Array) =>
  await crypto.subtle.importKey("raw", new Uint8Array(key), "AES-GCM", false, [
    "encrypt",
    "decrypt",
  ]);

Deno.test("property: AES-GCM on either side of the size threshold agrees with WebCrypto", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
      ),
      fc.uint8Array({ minLength: 12, maxLength: 12 }),
      fc.uint8Array({ maxLength: 32 }),
      fc.integer({ min: 0, max: 12000 }),
      async (key, nonce, aad, size) => {
        const plaintext = new Uint8Array(size).map((_, i) => i % 251);
        const ours = aesGcm(key);
        const params = {
          name: "AES-GCM",
          iv: new Uint8Array(nonce),
          additionalData: new Uint8Array(aad),
        };
        const sealed = await ours.seal(nonce, aad, plaintext);
        const theirs = new Uint8Array(
          await crypto.subtle.encrypt(params, await webCrypto(key), plaintext),
        );
        assert.deepEqual(sealed, theirs);
        assert.deepEqual(await ours.open(nonce, aad, theirs), plaintext);
        const tampered = sealed.slice();
        tampered[tampered.length - 1] ^= 1;
        assert.equal(await ours.open(nonce, aad, tampered), undefined);
        assert.equal(await ours.open(nonce, aad, sealed.subarray(0, 15)), undefined);
      },
    ),
    { numRuns: 60 },
  );
});
