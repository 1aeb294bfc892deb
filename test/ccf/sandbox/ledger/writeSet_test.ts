import assert from "node:assert/strict";
import fc from "fast-check";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import type { KvWrite } from "../../../../ccf/sandbox/kv.ts";
import {
  canonicalWrites,
  decodeWriteSet,
  encodeWriteSet,
  writeSetDigest,
} from "../../../../ccf/sandbox/ledger/writeSet.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

const writeArb: fc.Arbitrary<KvWrite> = fc.record({
  map: fc.oneof(fc.constantFrom("public:a", "public:b", "kms.x", "ccf.gov.y"), fc.string()),
  key: fc.uint8Array({ maxLength: 12 }),
  value: fc.option(fc.uint8Array({ maxLength: 40 }), { nil: null }),
}).map((w) => ({ ...w }));

const writeSetArb = fc.uniqueArray(writeArb, {
  selector: (w) => `${w.map}\u0000${bytesToHex(w.key)}`,
  maxLength: 12,
});

Deno.test("writeSet: decoding an encoding gives the canonical write set back", () => {
  fc.assert(fc.property(writeSetArb, (writes) => {
    assert.deepEqual(decodeWriteSet(encodeWriteSet(writes)), canonicalWrites(writes));
  }));
});

Deno.test("writeSet: the digest does not depend on the order writes are given in", () => {
  fc.assert(fc.property(writeSetArb, fc.integer(), (writes, seed) => {
    const shuffled = [...writes].sort((a, b) =>
      ((writes.indexOf(a) * 7919 + seed) % 13) - ((writes.indexOf(b) * 7919 + seed) % 13)
    );
    assert.deepEqual(writeSetDigest(shuffled), writeSetDigest(writes));
  }));
});

Deno.test("writeSet: distinct write sets have distinct encodings", () => {
  fc.assert(fc.property(writeSetArb, writeSetArb, (a, b) => {
    const same = bytesToHex(encodeWriteSet(a)) === bytesToHex(encodeWriteSet(b));
    assert.equal(same, JSON.stringify(canonicalWrites(a)) === JSON.stringify(canonicalWrites(b)));
  }));
});

Deno.test("writeSet: the documented byte layout", () => {
  const encoded = encodeWriteSet([
    { map: "public:b", key: Uint8Array.of(2), value: null },
    { map: "public:a", key: Uint8Array.of(1), value: bytes("v") },
  ]);
  assert.equal(
    bytesToHex(encoded),
    "00000002" +
      "00000008" + bytesToHex(bytes("public:a")) + "00000001" + "01" + "01" + "00000001" + "76" +
      "00000008" + bytesToHex(bytes("public:b")) + "00000001" + "02" + "00",
  );
  assert.deepEqual(writeSetDigest([]), sha256(Uint8Array.of(0, 0, 0, 0)));
});

Deno.test("writeSet: malformed input is refused", () => {
  const w = (map: string, key: number): KvWrite => ({ map, key: Uint8Array.of(key), value: null });
  assert.throws(() => encodeWriteSet([w("m", 1), w("m", 1)]), /twice/);
  assert.throws(() => encodeWriteSet([w("\ud800", 1)]), /well-formed/);
  const good = encodeWriteSet([w("a", 1), w("b", 2)]);
  assert.throws(() => decodeWriteSet(good.subarray(0, good.length - 1)), /truncated/);
  assert.throws(() => decodeWriteSet(Uint8Array.of(...good, 0)), /Trailing/);
  const swapped = Uint8Array.of(
    0,
    0,
    0,
    2,
    ...encodeWriteSet([w("b", 2)]).subarray(4),
    ...encodeWriteSet([w("a", 1)]).subarray(4),
  );
  assert.throws(() => decodeWriteSet(swapped), /canonical order/);
  const badTag = good.slice();
  badTag[4 + 4 + 1 + 4 + 1] = 7;
  assert.throws(() => decodeWriteSet(badTag), /tag 7/);
});
