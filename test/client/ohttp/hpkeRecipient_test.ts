/**
 * The gateway's HPKE recipient against RFC 9180's test vectors (Appendix A.3 and A.4: DHKEM P-256
 * with HKDF-SHA256 and HKDF-SHA512; the RFC has none for P-384) and against @hpke/core for every
 * P-384 suite the gateway serves.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import {
  Aes128Gcm,
  Aes256Gcm,
  CipherSuite,
  DhkemP384HkdfSha384,
  HkdfSha256,
  HkdfSha384,
  HkdfSha512,
} from "@hpke/core";
import { sha256, sha512 } from "@noble/hashes/sha2.js";
import { base64urlnopad } from "@scure/base";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import {
  type DhKem,
  type HkdfHash,
  kemSharedSecret,
  keySchedule,
  type RecipientSuite,
  setupBaseR,
} from "../../../client/ohttp/hpkeRecipient.ts";
import { hpkeSuite } from "../../../client/ohttp/suite.ts";

const SHA256: HkdfHash = { name: "sha256", hash: sha256, size: 32 };
const SHA512: HkdfHash = { name: "sha512", hash: sha512, size: 64 };
const P256: DhKem = { id: 0x10, curve: "P-256", dhBits: 256, hash: SHA256, secretSize: 32 };
const hex = (b: ArrayBuffer | Uint8Array) => bytesToHex(new Uint8Array(b));

// RFC 9180 A.3.1: DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base mode.
const A3 = {
  suite: { kem: P256, kdf: 1, aead: 1, hash: SHA256, keySize: 16, nonceSize: 12 },
  info: "4f6465206f6e2061204772656369616e2055726e",
  pkRm: "04e9d622b3112fe22a0f3c9e1fa6d020d61f3efb58652973a8f5c4656dcc2f63ee" +
    "fbf14e6f9d7f7b7772a56ddebc13ad0b1a0a9f0483b2a1a8d6cae615d9be3ea9",
  skRm: "6f14a20f859eb121acc2dd77b8718b2da5fa6a38674d93cfc74e57cd5d4ae51f",
  enc: "04987cd3d8ca7b11f4c05688b9ccc569210ee5ed3ec3629e1615ba2b6f4834ced35" +
    "da40bdcc786e1c523e4dab1794d540cae4a565aceef24685e64d646a067b385",
  sharedSecret: "44a7bc0b3dad29cf35610d43e8b6a3bde6427ef3d10c1183b815c85733f7ffbe",
  key: "d481191a63ab00c15e5944bf8f202673",
  baseNonce: "d4f41cfeff8942fc569941f0",
  exporterSecret: "1df76f92322234f75234ede58d20153265b95244be00a44a218ee45bb272180f",
  plaintext: "4265617574792069732074727574682c20747275746820626561757479",
  // Sequence numbers 0 and 1, aad "Count-0" and "Count-1".
  messages: [
    [
      "436f756e742d30",
      "d5b8fcd4d6ef4e70652130d0a976b699b94880714f9392cf818031e3a51dc938987504d6c12e91f4936ea039a2",
    ],
    [
      "436f756e742d31",
      "8d9e43d004e28895ee45637762922310e6ce97e1d57b6db9d7e3cc43f46c838159ad66ebff88e038ff56653161",
    ],
  ],
  exports: [
    ["", "2a5155420c36ba4d3fed081223fab445d57d0a33d85115dd0e9c44b021aa8de8"],
    ["00", "e81e4a73608e3aeadba7409e3e161656308cf5869c6abbd37f8a0cd6b5d66a47"],
    ["54657374436f6e74657874", "5a9bb18c06b8ae41361f517c4a51dc2321b62bcacae5a32c3f28bd03d2e9386d"],
  ],
} as const;

const importA3Pair = async (): Promise<CryptoKeyPair> => {
  const pk = hexToBytes(A3.pkRm);
  const jwk = {
    kty: "EC",
    crv: "P-256",
    x: base64urlnopad.encode(pk.subarray(1, 33)),
    y: base64urlnopad.encode(pk.subarray(33)),
  };
  const algorithm = { name: "ECDH", namedCurve: "P-256" };
  return {
    privateKey: await crypto.subtle.importKey(
      "jwk",
      { ...jwk, d: base64urlnopad.encode(hexToBytes(A3.skRm)) },
      algorithm,
      false,
      ["deriveBits"],
    ),
    publicKey: await crypto.subtle.importKey("jwk", jwk, algorithm, true, []),
  };
};

Deno.test("RFC 9180 A.3.1: the KEM's shared secret and the key schedule", async () => {
  const pair = await importA3Pair();
  const dh = new Uint8Array(
    await crypto.subtle.deriveBits(
      {
        name: "ECDH",
        public: await crypto.subtle.importKey(
          "raw",
          hexToBytes(A3.enc),
          { name: "ECDH", namedCurve: "P-256" },
          true,
          [],
        ),
      },
      pair.privateKey,
      256,
    ),
  );
  const shared = kemSharedSecret(P256, dh, hexToBytes(A3.enc), hexToBytes(A3.pkRm));
  assert.equal(hex(shared), A3.sharedSecret);
  const schedule = keySchedule(A3.suite, shared, hexToBytes(A3.info));
  assert.deepEqual(
    [hex(schedule.key), hex(schedule.baseNonce), hex(schedule.exporterSecret)],
    [A3.key, A3.baseNonce, A3.exporterSecret],
  );
});

Deno.test("RFC 9180 A.3.1: SetupBaseR opens messages 0 and 1 and exports the listed values", async () => {
  const context = await setupBaseR(
    A3.suite,
    await importA3Pair(),
    hexToBytes(A3.enc),
    hexToBytes(A3.info),
  );
  for (const [aad, ct] of A3.messages) {
    assert.equal(hex(await context.open(hexToBytes(ct), hexToBytes(aad))), A3.plaintext);
  }
  for (const [exporterContext, value] of A3.exports) {
    assert.equal(hex(await context.export(hexToBytes(exporterContext), 32)), value);
  }
});

Deno.test("RFC 9180 A.4.1: the key schedule with HKDF-SHA512", () => {
  const suite: RecipientSuite = {
    kem: P256,
    kdf: 3,
    aead: 1,
    hash: SHA512,
    keySize: 16,
    nonceSize: 12,
  };
  const schedule = keySchedule(
    suite,
    hexToBytes("624cbd2569ae306f1847e9ec6b8b210b5fbd7f802062b8780fb0ff7b5d780871"),
    hexToBytes(A3.info),
  );
  assert.deepEqual(
    [hex(schedule.key), hex(schedule.baseNonce), hex(schedule.exporterSecret)],
    [
      "54cfccef9fbca8aca71bb5af238735f6",
      "c84660f02d09b919fb2b651c",
      "8913aada22307c01b90dc9f27d5864170e77edfd1cf902384f828a3fea101e4e" +
      "ef3fce6dc93008c2e9b5eb05b9536afd9afb0be7671172d70b38bcd15e560f4c",
    ],
  );
});

Deno.test("RFC 9180 A.3.1: a tampered message does not open", async () => {
  const context = await setupBaseR(
    A3.suite,
    await importA3Pair(),
    hexToBytes(A3.enc),
    hexToBytes(A3.info),
  );
  const [aad, ct] = A3.messages[0];
  const tampered = hexToBytes(ct);
  tampered[0] ^= 1;
  await assert.rejects(context.open(tampered, hexToBytes(aad)), /does not verify/);
  // The failed open did not use up sequence number 0.
  assert.equal(hex(await context.open(hexToBytes(ct), hexToBytes(aad))), A3.plaintext);
});

const kdfs = [[1, () => new HkdfSha256()], [2, () => new HkdfSha384()], [
  3,
  () => new HkdfSha512(),
]] as const;
const aeads = [[1, () => new Aes128Gcm()], [2, () => new Aes256Gcm()]] as const;

Deno.test("property: every P-384 suite opens what @hpke/core seals, and exports what it exports", async () => {
  const kem = new DhkemP384HkdfSha384();
  const pair = await kem.generateKeyPair();
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...kdfs),
      fc.constantFrom(...aeads),
      fc.uint8Array({ maxLength: 64 }),
      fc.uint8Array({ maxLength: 300 }),
      fc.uint8Array({ maxLength: 20 }),
      fc.integer({ min: 1, max: 64 }),
      async ([kdf, makeKdf], [aead, makeAead], info, plaintext, exporterContext, length) => {
        const stock = new CipherSuite({ kem, kdf: makeKdf(), aead: makeAead() });
        const sender = await stock.createSenderContext({
          recipientPublicKey: pair.publicKey,
          info,
        });
        const ct = new Uint8Array(await sender.seal(plaintext));
        const suite = hpkeSuite(0x0011, kdf, aead);
        if (E.isLeft(suite) || !suite.right.recipient) throw new Error("P-384 suite expected");
        const ours = await setupBaseR(
          suite.right.recipient,
          pair,
          new Uint8Array(sender.enc),
          info,
        );
        assert.equal(hex(await ours.open(ct)), hex(plaintext));
        assert.equal(
          hex(await ours.export(exporterContext, length)),
          hex(await sender.export(exporterContext, length)),
        );
      },
    ),
    { numRuns: 30 },
  );
});
