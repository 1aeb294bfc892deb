import assert from "node:assert/strict";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import {
  encodeBytes,
  encodeHead,
  encodeInt,
  MajorType,
  readHead,
  readScalar,
} from "../../core/cbor.ts";

Deno.test("integers use the shortest head of RFC 8949 (examples of its Appendix A)", () => {
  const cases: [number, string][] = [
    [0, "00"],
    [23, "17"],
    [24, "1818"],
    [255, "18ff"],
    [256, "190100"],
    [65536, "1a00010000"],
    [1000000, "1a000f4240"],
    [4294967296, "1b0000000100000000"],
    [-1, "20"],
    [-24, "37"],
    [-25, "3818"],
    [-1000, "3903e7"],
  ];
  for (const [n, h] of cases) assert.equal(bytesToHex(encodeInt(n)), h);
  assert.equal(bytesToHex(encodeBytes(Uint8Array.of(1, 2, 3, 4))), "4401020304");
  assert.equal(bytesToHex(encodeHead(MajorType.MAP, 5)), "a5");
});

Deno.test("readScalar(encodeInt(n)) = n over the safe integers", () => {
  fc.assert(fc.property(fc.maxSafeInteger(), fc.boolean(), (m, negative) => {
    const n = negative ? -1 - m : m;
    const encoded = encodeInt(n);
    assert.deepEqual(readScalar(encoded, 0), E.right({ value: n, end: encoded.length }));
  }));
});

Deno.test("byte strings round-trip, also behind a prefix", () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(3), (b, pad) => {
    const encoded = Uint8Array.of(...new Uint8Array(pad), ...encodeBytes(b));
    assert.deepEqual(readScalar(encoded, pad), E.right({ value: b, end: encoded.length }));
  }));
});

Deno.test("a longer-than-needed argument is rejected at every size", () => {
  fc.assert(fc.property(fc.nat(0xffff), fc.integer({ min: 24, max: 27 }), (n, info) => {
    const size = 1 << (info - 24);
    const shortest = encodeHead(0, n).length - 1;
    fc.pre(size > shortest);
    const bytes = new Uint8Array(1 + size);
    bytes[0] = info;
    for (let i = size, v = n; i > 0; i--, v = Math.floor(v / 256)) bytes[i] = v % 256;
    const r = readHead(bytes, 0);
    assert.ok(E.isLeft(r));
    assert.match(r.left.message, /shortest form/);
  }));
});

Deno.test("truncated, indefinite, reserved and other major types are rejected", () => {
  const left = (hex: string, message: RegExp) => {
    const bytes = Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16));
    const r = readScalar(bytes, 0);
    assert.ok(E.isLeft(r));
    assert.match(r.left.message, message);
  };
  left("", /truncated/);
  left("1901", /truncated/);
  left("430102", /truncated/);
  left("5f", /indefinite length/);
  left("1c", /reserved additional information 28/);
  left("6161", /major type 3/);
  left("80", /major type 4/);
  left("f5", /major type 7/);
});
