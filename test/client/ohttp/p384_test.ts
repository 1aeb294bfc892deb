/**
 * The tuned P-384 suite parts against @hpke's own: the same key pairs from the same input keying
 * material (RFC 9180 DeriveKeyPair), shared secrets that agree both ways, and the same HKDF output.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { DhkemP384HkdfSha384, HkdfSha384 } from "@hpke/core";
import { DhkemP384HkdfSha384Fast, HkdfSha384Tuned } from "../../../client/ohttp/p384.ts";

const ours = new DhkemP384HkdfSha384Fast();
const theirs = new DhkemP384HkdfSha384();
const hex = (b: ArrayBuffer) =>
  Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");

Deno.test("P-384 KEM: the sizes RFC 9180 gives", () => {
  assert.deepEqual(
    [ours.id, ours.secretSize, ours.encSize, ours.publicKeySize, ours.privateKeySize],
    [theirs.id, theirs.secretSize, theirs.encSize, theirs.publicKeySize, theirs.privateKeySize],
  );
});

Deno.test("property: the tuned P-384 KEM agrees with @hpke's", async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ minLength: 48, maxLength: 64 }), async (ikm) => {
      const mine = await ours.deriveKeyPair(ikm);
      const other = await theirs.deriveKeyPair(ikm);
      assert.equal(
        hex(await ours.serializePublicKey(mine.publicKey)),
        hex(await theirs.serializePublicKey(other.publicKey)),
      );
      // Sealed by one, opened by the other, both ways; twice, so that remembered keys are used.
      for (let i = 0; i < 2; i++) {
        const toMine = await theirs.encap({ recipientPublicKey: other.publicKey });
        assert.equal(
          hex(await ours.decap({ recipientKey: mine, enc: toMine.enc })),
          hex(toMine.sharedSecret),
        );
        const toTheirs = await ours.encap({ recipientPublicKey: mine.publicKey });
        assert.equal(
          hex(await theirs.decap({ recipientKey: other, enc: toTheirs.enc })),
          hex(toTheirs.sharedSecret),
        );
        assert.equal(toTheirs.sharedSecret.byteLength, 48);
      }
    }),
    { numRuns: 15 },
  );
});

Deno.test("property: the tuned HKDF-SHA384 gives @hpke's WebCrypto output", async () => {
  const noble = new HkdfSha384Tuned();
  const web = new HkdfSha384();
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ minLength: 48, maxLength: 48 })),
      fc.uint8Array({ maxLength: 100 }),
      fc.uint8Array({ maxLength: 100 }),
      fc.integer({ min: 1, max: 255 }),
      async (salt, ikm, info, len) => {
        const [a, b] = [noble, web].map((k) => k.extract(salt.slice().buffer, ikm.slice().buffer));
        const prk = await a;
        assert.equal(hex(prk), hex(await b));
        assert.equal(
          hex(await noble.expand(prk, info.slice().buffer, len)),
          hex(await web.expand(prk, info.slice().buffer, len)),
        );
        assert.equal(
          hex(
            await noble.extractAndExpand(
              salt.slice().buffer,
              ikm.slice().buffer,
              info.slice().buffer,
              len,
            ),
          ),
          hex(
            await web.extractAndExpand(
              salt.slice().buffer,
              ikm.slice().buffer,
              info.slice().buffer,
              len,
            ),
          ),
        );
      },
    ),
    { numRuns: 50 },
  );
});

Deno.test("property: the key schedule's remembered hashes equal @hpke's, call after call", async () => {
  const suiteId = new TextEncoder().encode("HPKE\x00\x11\x00\x02\x00\x02");
  const ours = new HkdfSha384Tuned();
  const web = new HkdfSha384();
  ours.init(suiteId);
  web.init(suiteId);
  const labels = ["psk_id_hash", "info_hash", "secret"].map((l) => new TextEncoder().encode(l));
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...labels),
      fc.uint8Array({ maxLength: 64 }),
      async (label, ikm) => {
        const expected = hex(await web.labeledExtract(new ArrayBuffer(0), label, ikm));
        assert.equal(hex(await ours.labeledExtract(new ArrayBuffer(0), label, ikm)), expected);
        assert.equal(hex(await ours.labeledExtract(new ArrayBuffer(0), label, ikm)), expected);
      },
    ),
    { numRuns: 60 },
  );
});
