import assert from "node:assert/strict";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { base64urlnopad } from "@scure/base";
import {
  claimsDigestOf,
  keyListing,
  listedKeys,
  maxListedKeys,
  newKey,
  releasePlaintext,
} from "../../../core/api/keys.ts";
import { receiptNotReady } from "../../../core/errors.ts";
import { toHex } from "../../../core/bytes.ts";
import { decodePrivateKeyCbor } from "../../../core/keys/privateKeyCbor.ts";
import { keyState } from "../../../core/keys/record.ts";
import { keyConfigFromHex } from "../../../core/ohttp/keyConfig.ts";
import {
  D,
  KID1_CBOR as cbor,
  KID1_CLAIMS_DIGEST,
  P384_KID1 as publicKey,
  X,
  Y,
} from "../../fixtures/vectors.ts";

const [d, x, y] = [D, X, Y];
const b64url = (hex: string) =>
  base64urlnopad.encode(Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16)));
const jwk = { kty: "EC", crv: "P-384", d: b64url(d), x: b64url(x), y: b64url(y) };
const record = { index: 7, keyId: 1, createdAt: 10, notAfter: 20, releaseUntil: 30 };

Deno.test("newKey publishes the KeyConfig hex and binds the receipt to SHA-256 of it", () => {
  const made = newKey(record, jwk);
  assert.ok(E.isRight(made));
  assert.deepEqual(made.right.published, { ...record, publicKey });
  assert.deepEqual(made.right.privateKey, { d, x, y });
  assert.equal(
    toHex(made.right.claimsDigest),
    KID1_CLAIMS_DIGEST,
  );
  assert.equal(toHex(claimsDigestOf(publicKey)), toHex(made.right.claimsDigest));
});

Deno.test("newKey refuses a JWK that is not a P-384 private key as a fault of the service", () => {
  for (
    const bad of [{}, { ...jwk, crv: "P-256" }, { ...jwk, d: "!!" }, {
      ...jwk,
      x: b64url(x.slice(2)),
    }]
  ) {
    const r = newKey(record, bad);
    assert.ok(E.isLeft(r) && ["Internal", "InvalidInput"].includes(r.left._tag));
  }
});

Deno.test("releasePlaintext is the seed-compatible CBOR key with the record's key id", () => {
  const plain = releasePlaintext(record, { d, x, y });
  assert.ok(E.isRight(plain));
  assert.equal(toHex(plain.right), cbor);
  const round = decodePrivateKeyCbor(plain.right);
  assert.ok(E.isRight(round) && round.right.kid === 1);
  assert.ok(E.isRight(keyConfigFromHex(publicKey)));
});

Deno.test("releasePlaintext reports a missing or corrupt private part without its content", () => {
  for (const stored of [undefined, { d, x }, { d: d.toUpperCase(), x, y }]) {
    const r = releasePlaintext(record, stored);
    assert.ok(E.isLeft(r) && r.left._tag === "Internal");
    assert.doesNotMatch(r.left.message, new RegExp(d.slice(0, 16), "i"));
  }
});

Deno.test("keyListing: keys with receipts, newest last; 202 if none is ready; 404 with no key", () => {
  const pending = E.left(receiptNotReady("not yet"));
  assert.deepEqual(keyListing([E.right("a"), pending, E.right("c")]), E.right(["a", "c"]));
  assert.deepEqual(keyListing([pending, pending]), pending);
  const none = keyListing([]);
  assert.ok(E.isLeft(none) && none.left._tag === "KeyNotFound");
});

Deno.test("listedKeys: the 2 newest active keys; the newest in grace only while none is active", () => {
  const key = (index: number, notAfter: number, releaseUntil: number) => ({
    index,
    keyId: index,
    createdAt: 0,
    notAfter,
    releaseUntil,
  });
  const ring = [key(3, 50, 60), ...Array.from({ length: 10 }, (_, i) => key(10 + i, 100, 200))];
  assert.deepEqual(listedKeys(ring, 10).map((k) => k.index), [18, 19]);
  assert.deepEqual(listedKeys(ring, 150).map((k) => k.index), [19]);
  assert.deepEqual(listedKeys([key(1, 40, 70), key(3, 50, 60)], 55).map((k) => k.index), [3]);
  assert.deepEqual(listedKeys(ring, 200), []);
});

Deno.test("listedKeys: walking back from the newest equals filtering every key of the ring", () => {
  const ring = fc.uniqueArray(
    fc.record({
      index: fc.nat(1000),
      notAfter: fc.integer({ min: 0, max: 100 }),
      grace: fc.integer({ min: 0, max: 100 }),
    }),
    { selector: (k) => k.index, maxLength: 40 },
  ).map((ks) =>
    ks.sort((a, b) => a.index - b.index).map(({ index, notAfter, grace }) => ({
      index,
      keyId: index % 256,
      createdAt: 0,
      notAfter,
      releaseUntil: notAfter + grace,
    }))
  );
  fc.assert(fc.property(ring, fc.integer({ min: 0, max: 200 }), (keys, now) => {
    const active = keys.filter((k) => keyState(k, now) === "active");
    const inGrace = keys.filter((k) => keyState(k, now) === "grace");
    const expected = active.length > 0 ? active.slice(-maxListedKeys) : inGrace.slice(-1);
    assert.deepEqual(listedKeys(keys, now), expected);
  }));
});
