import assert from "node:assert/strict";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import {
  decodePrivateKeyCbor,
  encodePrivateKeyCbor,
  type P384PrivateKey,
  p384PrivateKey,
} from "../../../core/keys/privateKeyCbor.ts";
import { D, KID1_CBOR, X, Y } from "../../fixtures/vectors.ts";

const hex = (s: string): Uint8Array => hexToBytes(s.replace(/\s/g, ""));

const key = (kid: number, d = D, x = X, y = Y): P384PrivateKey => {
  const k = p384PrivateKey({ kid, d: hex(d), x: hex(x), y: hex(y) });
  assert.ok(E.isRight(k));
  return k.right;
};

/** The map's entries as hex, so that tests can drop, repeat or change one. */
const ENTRIES = {
  d: "235830" + D,
  x: "215830" + X,
  y: "225830" + Y,
  curve: "2002",
  kid: "0401",
};
const map = (head: string, ...entries: string[]): Uint8Array => hex(head + entries.join(""));
const all = Object.values(ENTRIES);

const rejects = (bytes: Uint8Array, message: RegExp): void => {
  const r = decodePrivateKeyCbor(bytes);
  assert.ok(E.isLeft(r), `expected a rejection matching ${message}`);
  assert.equal(r.left._tag, "InvalidInput");
  assert.match(r.left.message, message);
  assert.ok(!r.left.message.includes(D.slice(0, 16)), "no secret in message");
};

const bytes48 = fc.uint8Array({ minLength: 48, maxLength: 48 });
const anyKey = fc.tuple(
  fc.integer({ min: 0, max: 255 }),
  bytes48,
  bytes48,
  bytes48,
)
  .map(([kid, d, x, y]) =>
    E.getOrElseW(() => assert.fail("valid fields"))(
      p384PrivateKey({ kid, d, x, y }),
    )
  );

Deno.test("the kid-1 vector encodes to the 158 bytes of §7 and decodes back", () => {
  const encoded = encodePrivateKeyCbor(key(1));
  assert.equal(encoded.length, 158);
  assert.equal(bytesToHex(encoded), KID1_CBOR);
  assert.deepEqual(decodePrivateKeyCbor(hex(KID1_CBOR)), E.right(key(1)));
});

Deno.test("kid 30 is a canonical uint: the encoding ends with 04 18 1e", () => {
  const encoded = bytesToHex(encodePrivateKeyCbor(key(30)));
  assert.ok(encoded.endsWith("2002" + "04181e"));
});

Deno.test("every kid 0..255 round-trips, in 158 bytes below 24 and 159 from 24", () => {
  for (let kid = 0; kid <= 255; kid++) {
    const encoded = encodePrivateKeyCbor(key(kid));
    assert.equal(encoded.length, kid < 24 ? 158 : 159);
    const tail = kid < 24 ? [0x04, kid] : [0x04, 0x18, kid];
    assert.deepEqual([...encoded.subarray(-tail.length)], tail);
    assert.deepEqual(decodePrivateKeyCbor(encoded), E.right(key(kid)));
  }
});

Deno.test("decode(encode(k)) = k for random kids and 48-byte values", () => {
  fc.assert(fc.property(anyKey, (k) => {
    assert.deepEqual(decodePrivateKeyCbor(encodePrivateKeyCbor(k)), E.right(k));
  }));
});

Deno.test("entries are accepted in any order, as the server accepts them", () => {
  const { d, x, y, curve, kid } = ENTRIES;
  assert.deepEqual(
    decodePrivateKeyCbor(map("a5", kid, curve, y, x, d)),
    E.right(key(1)),
  );
});

Deno.test("labels 1, 2 and 3 (COSE kty, kid, alg) are rejected, added or substituted", () => {
  for (const label of ["01", "02", "03"]) {
    rejects(
      map("a6", ...all, label + "01"),
      new RegExp(`label ${+label} is not allowed`),
    );
    rejects(map("a5", ...all.slice(0, 4), label + "01"), /is not allowed/);
  }
  rejects(
    map("a6", ...all, "6174" + "01"),
    /major type 3; expected an integer or a byte string/,
  );
  rejects(
    map("a6", ...all, "4100" + "01"),
    /label \(byte string\) is not allowed/,
  );
});

Deno.test("a missing or repeated label is rejected", () => {
  rejects(map("a4", ...all.slice(0, 4)), /label 4 \(kid\) is missing/);
  rejects(map("a4", ...all.slice(1)), /label -4 \(d\) is missing/);
  rejects(map("a6", ...all, ENTRIES.kid), /label 4 \(kid\) appears twice/);
  rejects(map("a6", ENTRIES.d, ...all), /label -4 \(d\) appears twice/);
});

Deno.test("label -1 must be 2 and kid an unsigned integer 0..255", () => {
  const { d, x, y, curve } = ENTRIES;
  rejects(map("a5", d, x, y, "2001", "0401"), /label -1 \(curve\) must be 2/);
  rejects(
    map("a5", d, x, y, "2021", "0401"),
    /label -1 \(curve\) must be an unsigned/,
  );
  rejects(
    map("a5", d, x, y, curve, "04190100"),
    /kid must be an integer 0\.\.255, got 256/,
  );
  rejects(
    map("a5", d, x, y, curve, "044101"),
    /label 4 \(kid\) must be an unsigned/,
  );
});

Deno.test("the seed's raw-byte kid 32 (04 20, which is CBOR -1) is rejected", () => {
  const { d, x, y, curve } = ENTRIES;
  rejects(
    map("a5", d, x, y, curve, "0420"),
    /label 4 \(kid\) must be an unsigned integer/,
  );
});

Deno.test("only shortest integer and length encodings are accepted", () => {
  const { d, x, y, curve } = ENTRIES;
  rejects(
    map("a5", d, x, y, curve, "041805"),
    /does not encode 5 in its shortest form/,
  );
  rejects(map("a5", d, x, y, curve, "04190020"), /shortest form/);
  rejects(map("a5", d, x, y, "3800" + "02", "0401"), /shortest form/);
  rejects(map("b805", ...all), /shortest form/);
  rejects(map("a5", "23590030" + D, x, y, curve, "0401"), /shortest form/);
});

Deno.test("d, x and y must be 48-byte byte strings", () => {
  const { x, y, curve, kid } = ENTRIES;
  rejects(
    map("a5", "23582f" + D.slice(2), x, y, curve, kid),
    /d must be 48 bytes, got 47/,
  );
  rejects(
    map("a5", "235831" + D + "00", x, y, curve, kid),
    /d must be 48 bytes, got 49/,
  );
  rejects(
    map("a5", "2302", x, y, curve, kid),
    /label -4 \(d\) must be a byte string/,
  );
  rejects(
    map("a5", ENTRIES.d, "215820" + X.slice(32), y, curve, kid),
    /x must be 48 bytes/,
  );
});

Deno.test("trailing bytes, truncation, indefinite lengths and non-maps are rejected", () => {
  rejects(hex(KID1_CBOR + "00"), /1 trailing bytes after the map/);
  const full = hex(KID1_CBOR);
  for (let n = 0; n < full.length; n++) {
    assert.ok(
      E.isLeft(decodePrivateKeyCbor(full.subarray(0, n))),
      `prefix ${n}`,
    );
  }
  rejects(hex(""), /truncated/);
  rejects(map("bf", ...all, "ff"), /indefinite length/);
  rejects(
    map("a5", "235f5830" + D + "ff", ...all.slice(1)),
    /indefinite length/,
  );
  rejects(map("85", ...all), /must be a map, got major type 4/);
  rejects(hex("5830" + D), /must be a map, got major type 2/);
});

Deno.test("p384PrivateKey rejects bad kids and lengths before anything is encoded", () => {
  for (const kid of [-1, 256, 1.5, NaN]) {
    assert.ok(
      E.isLeft(p384PrivateKey({ kid, d: hex(D), x: hex(X), y: hex(Y) })),
    );
  }
  const short = new Uint8Array(47);
  assert.ok(
    E.isLeft(p384PrivateKey({ kid: 1, d: hex(D), x: short, y: hex(Y) })),
  );
  assert.ok(
    E.isLeft(p384PrivateKey({ kid: 1, d: hex(D), x: hex(X), y: short })),
  );
});

Deno.test("decoding random bytes never throws: a rejection or a valid key", () => {
  const random = fc.uint8Array({ maxLength: 200 });
  // Half the inputs start like a key, so that the reader gets past the map head.
  const inputs = fc.oneof(
    random,
    random.map((b) => Uint8Array.of(0xa5, 0x23, ...b)),
  );
  fc.assert(fc.property(inputs, (bytes) => {
    const r = decodePrivateKeyCbor(bytes);
    assert.ok(E.isLeft(r) || E.isRight(p384PrivateKey(r.right)));
  }));
});

Deno.test("a one-byte change to a valid encoding is rejected or is the encoding of what it decodes to", () => {
  const cases = fc.tuple(anyKey, fc.nat(), fc.integer({ min: 1, max: 255 }));
  fc.assert(fc.property(cases, ([k, at, flip]) => {
    const bytes = encodePrivateKeyCbor(k).slice();
    bytes[at % bytes.length] ^= flip;
    const r = decodePrivateKeyCbor(bytes);
    if (E.isRight(r)) assert.deepEqual(encodePrivateKeyCbor(r.right), bytes);
  }));
});
