import assert from "node:assert/strict";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import {
  Aead,
  decodeKeyConfig,
  decodeKeyConfigList,
  encodeKeyConfig,
  encodeKeyConfigList,
  Kdf,
  Kem,
  type KeyConfig,
  keyConfig,
  keyConfigFromHex,
  keyConfigToHex,
  p384KeyConfig,
} from "../../../core/ohttp/keyConfig.ts";
import { P384_KID1, X, Y } from "../../fixtures/vectors.ts";

const X25519_PK = "fc0138936410311a0c641a5ca086391de8e70382333f6d64492521ad7dc78a5d";
const X25519_DERIVE = "010020" + X25519_PK + "00080001000100010003";
const K_PK = "9f7ee31cfc658c9c98d15707b7ff450854d1faa9edca1fd088b2900c54067105";
const K_EXAMPLE = "002d" + "000020" + K_PK + "00080001000100010003";

const hex = (s: string): Uint8Array => hexToBytes(s);

const rejects = (
  r: E.Either<{ _tag: string; message: string }, unknown>,
  message: RegExp,
): void => {
  assert.ok(E.isLeft(r), `expected a rejection matching ${message}`);
  assert.equal(r.left._tag, "InvalidInput");
  assert.match(r.left.message, message);
};

const valid = (r: E.Either<unknown, KeyConfig>): KeyConfig =>
  E.getOrElseW(() => assert.fail("expected a valid KeyConfig"))(r);

const allSuites = [1, 2, 3].flatMap((kdf) => [1, 2, 3].map((aead) => ({ kdf, aead })));

const anyConfig: fc.Arbitrary<KeyConfig> = fc.tuple(
  fc.integer({ min: 0, max: 255 }),
  fc.oneof(
    fc.uint8Array({ minLength: 96, maxLength: 96 }).map((xy) => ({
      kem: Kem.P384_HKDF_SHA384,
      publicKey: Uint8Array.of(0x04, ...xy),
    })),
    fc.uint8Array({ minLength: 32, maxLength: 32 }).map((publicKey) => ({
      kem: Kem.X25519_HKDF_SHA256,
      publicKey,
    })),
  ),
  fc.shuffledSubarray(allSuites, { minLength: 1 }),
).map(([keyId, key, suites]) => valid(keyConfig({ keyId, ...key, suites })));

Deno.test("the P-384 publicKey of kid 1 decodes to X and Y and encodes back byte for byte", () => {
  const c = valid(keyConfigFromHex(P384_KID1));
  assert.equal(c.keyId, 1);
  assert.equal(c.kem, Kem.P384_HKDF_SHA384);
  assert.equal(bytesToHex(c.publicKey.subarray(1, 49)), X);
  assert.equal(bytesToHex(c.publicKey.subarray(49)), Y);
  assert.deepEqual(c.suites, [{
    kdf: Kdf.HKDF_SHA384,
    aead: Aead.AES_256_GCM,
  }]);

  const built = valid(p384KeyConfig(1, hex("04" + X + Y)));
  assert.equal(encodeKeyConfig(built).length, 106);
  assert.equal(keyConfigToHex(built), P384_KID1);
  assert.deepEqual(built, c);
});

Deno.test("the X25519 derive-test config decodes with suites (1,1), (1,3) and re-encodes", () => {
  const c = valid(keyConfigFromHex(X25519_DERIVE));
  assert.equal(c.keyId, 1);
  assert.equal(c.kem, Kem.X25519_HKDF_SHA256);
  assert.equal(bytesToHex(c.publicKey), X25519_PK);
  assert.deepEqual(c.suites, [{ kdf: 1, aead: 1 }, { kdf: 1, aead: 3 }]);
  assert.equal(keyConfigToHex(c), X25519_DERIVE);
});

Deno.test("the seed's comment example is a length-prefixed list entry, not a single config", () => {
  rejects(decodeKeyConfig(hex(K_EXAMPLE)), /KEM id 0x2d00 is not supported/);
  const list = decodeKeyConfigList(hex(K_EXAMPLE));
  assert.ok(E.isRight(list));
  assert.equal(list.right.length, 1);
  const [c] = list.right;
  assert.equal(c.keyId, 0);
  assert.equal(c.kem, Kem.X25519_HKDF_SHA256);
  assert.equal(bytesToHex(c.publicKey), K_PK);
  assert.deepEqual(c.suites, [{ kdf: 1, aead: 1 }, { kdf: 1, aead: 3 }]);
  assert.equal(bytesToHex(encodeKeyConfigList(list.right)), K_EXAMPLE);
});

Deno.test("decode(encode(c)) = c, with the length and lowercase hex of the wire form", () => {
  fc.assert(fc.property(anyConfig, (c) => {
    const encoded = encodeKeyConfig(c);
    assert.equal(encoded.length, 5 + c.publicKey.length + 4 * c.suites.length);
    assert.deepEqual(decodeKeyConfig(encoded), E.right(c));
    const h = keyConfigToHex(c);
    assert.match(h, /^[0-9a-f]+$/);
    assert.deepEqual(keyConfigFromHex(h), E.right(c));
    assert.deepEqual(keyConfigFromHex(h.toUpperCase()), E.right(c));
  }));
});

Deno.test("the application/ohttp-keys list form round-trips", () => {
  const lists = fc.array(anyConfig, { minLength: 1, maxLength: 5 });
  fc.assert(fc.property(lists, (cs) => {
    assert.ok(cs.length > 0);
    const [first, ...rest] = cs;
    const encoded = encodeKeyConfigList([first, ...rest]);
    assert.equal(
      encoded.length,
      cs.reduce((n, c) => n + 2 + encodeKeyConfig(c).length, 0),
    );
    assert.deepEqual(decodeKeyConfigList(encoded), E.right(cs));
  }));
});

Deno.test("trailing bytes and every truncation are rejected", () => {
  rejects(
    keyConfigFromHex(P384_KID1 + "00"),
    /1 trailing bytes after the config/,
  );
  rejects(
    keyConfigFromHex("006a" + P384_KID1),
    /KEM id 0x6a01 is not supported/,
  );
  assert.ok(E.isRight(decodeKeyConfigList(hex("006a" + P384_KID1))));
  const full = hex(P384_KID1);
  for (let n = 0; n < full.length; n++) {
    rejects(decodeKeyConfig(full.subarray(0, n)), /truncated/);
  }
  rejects(keyConfigFromHex("01001"), /must be hex of even length/);
});

Deno.test("a public key of the wrong length or form is rejected", () => {
  rejects(
    p384KeyConfig(1, hex("04" + X + Y.slice(2))),
    /KEM 0x0011 must be 97 bytes, got 96/,
  );
  rejects(
    p384KeyConfig(1, hex("04" + X + Y + "00")),
    /must be 97 bytes, got 98/,
  );
  rejects(
    p384KeyConfig(1, hex("03" + X + Y)),
    /uncompressed point starting with 04/,
  );
  rejects(
    keyConfig({
      keyId: 1,
      kem: 0x20,
      publicKey: hex(X),
      suites: [{ kdf: 1, aead: 1 }],
    }),
    /KEM 0x0020 must be 32 bytes, got 48/,
  );
  // On the wire, a 96-byte key shifts every later field.
  rejects(
    keyConfigFromHex("01001104" + X + Y.slice(2) + "000400020002"),
    /KeyConfig:/,
  );
  rejects(
    keyConfigFromHex("01001103" + X + Y + "000400020002"),
    /starting with 04/,
  );
});

Deno.test("unknown KEM, KDF and AEAD ids are rejected", () => {
  for (const kem of ["0010", "0012", "0021", "0000"]) {
    rejects(
      keyConfigFromHex("01" + kem + X + Y),
      new RegExp(`KEM id 0x${kem} is not supported`),
    );
  }
  const withSuites = (suites: string) =>
    keyConfigFromHex(
      "010020" + X25519_PK + (suites.length / 2).toString(16).padStart(4, "0") +
        suites,
    );
  rejects(withSuites("00040002"), /suite 0: KDF id 0x0004 is not supported/);
  rejects(withSuites("00000002"), /KDF id 0x0000/);
  rejects(
    withSuites("00010001" + "0001ffff"),
    /suite 1: AEAD id 0xffff is not supported/,
  );
  rejects(withSuites("00010004"), /AEAD id 0x0004/);
  const typed = (kdf: number, aead: number) =>
    keyConfig({ keyId: 0, kem: 0x20, publicKey: hex(X25519_PK), suites: [{ kdf, aead }] });
  rejects(typed(1.5, 1), /KDF id/);
  rejects(typed(1, 2.5), /AEAD id/);
  rejects(
    keyConfig({ keyId: 0, kem: 17.5, publicKey: hex(X25519_PK), suites: [{ kdf: 1, aead: 1 }] }),
    /KEM id/,
  );
});

Deno.test("a suite list that is empty, not a multiple of 4 long, or repeats a suite is rejected", () => {
  const pk = "010020" + X25519_PK;
  rejects(keyConfigFromHex(pk + "0000"), /non-zero multiple of 4, got 0/);
  rejects(
    keyConfigFromHex(pk + "0002" + "0001"),
    /non-zero multiple of 4, got 2/,
  );
  rejects(
    keyConfigFromHex(pk + "0006" + "000100010001"),
    /non-zero multiple of 4, got 6/,
  );
  rejects(keyConfigFromHex(pk + "0008" + "0001000100010001"), /listed twice/);
  rejects(
    keyConfig({ keyId: 0, kem: 0x20, publicKey: hex(X25519_PK), suites: [] }),
    /at least one symmetric suite/,
  );
});

Deno.test("key ids outside 0..255 are rejected", () => {
  for (const keyId of [-1, 256, 1.5, NaN]) {
    rejects(
      p384KeyConfig(keyId, hex("04" + X + Y)),
      /key id must be an integer 0\.\.255/,
    );
  }
});

Deno.test("a bad list is rejected with the index of the bad entry", () => {
  const entry = (h: string) => (h.length / 2).toString(16).padStart(4, "0") + h;
  rejects(decodeKeyConfigList(new Uint8Array()), /at least one KeyConfig/);
  rejects(
    decodeKeyConfigList(hex(entry(X25519_DERIVE) + "00")),
    /entry 1: truncated/,
  );
  rejects(
    decodeKeyConfigList(hex("00ff" + X25519_DERIVE)),
    /entry 0: declares 255 bytes/,
  );
  rejects(
    decodeKeyConfigList(hex(entry(X25519_DERIVE + "00"))),
    /entry 0: .*1 trailing bytes/,
  );
  rejects(
    decodeKeyConfigList(hex(entry(P384_KID1) + entry("0100"))),
    /entry 1: KeyConfig: truncated/,
  );
  rejects(
    decodeKeyConfigList(hex(P384_KID1)),
    /entry 0: declares 256 bytes but only 104 remain/,
  );
});

Deno.test("decoding random bytes never throws", () => {
  const random = fc.uint8Array({ maxLength: 160 });
  // Some inputs start with a known KEM, so that decoding gets past the header.
  const inputs = fc.oneof(
    random,
    random.map((b) => Uint8Array.of(1, 0, 0x20, ...b)),
  );
  fc.assert(fc.property(inputs, (bytes) => {
    const one = decodeKeyConfig(bytes);
    if (E.isRight(one)) assert.deepEqual(encodeKeyConfig(one.right), bytes);
    const list = decodeKeyConfigList(bytes);
    if (E.isRight(list)) {
      assert.deepEqual(encodeKeyConfigList(list.right), bytes);
    }
  }));
});

Deno.test("a one-byte change to a valid config is rejected or is the encoding of what it decodes to", () => {
  const cases = fc.tuple(anyConfig, fc.nat(), fc.integer({ min: 1, max: 255 }));
  fc.assert(fc.property(cases, ([c, at, flip]) => {
    const bytes = encodeKeyConfig(c).slice();
    bytes[at % bytes.length] ^= flip;
    const r = decodeKeyConfig(bytes);
    if (E.isRight(r)) assert.deepEqual(encodeKeyConfig(r.right), bytes);
  }));
});
