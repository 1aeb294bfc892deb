import assert from "node:assert/strict";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import {
  chunkedResponseReader,
  chunkedResponseSealer,
  encodeLeb128,
  MAX_CHUNK_BYTES,
  readLeb128,
  responseCipher,
  responseNonceLength,
  sealChunks,
  TAG_LENGTH,
} from "../../../client/ohttp/chunkedResponse.ts";
import { hpkeSuite } from "../../../client/ohttp/suite.ts";
import { Aead, Kdf, Kem } from "../../../core/ohttp/keyConfig.ts";

const right = <A>(r: E.Either<{ message: string }, A>): A => {
  if (E.isLeft(r)) assert.fail(`expected Right, got Left: ${r.left.message}`);
  return r.right;
};

const rejects = (r: E.Either<{ _tag: string; message: string }, unknown>, message: RegExp) => {
  assert.ok(E.isLeft(r), `expected a rejection matching ${message}`);
  assert.equal(r.left._tag, "InvalidInput");
  assert.match(r.left.message, message);
};

// The peers' suite; the secret and enc stand in for an HPKE exchange, which this file does not need.
const suite = right(hpkeSuite(Kem.P384_HKDF_SHA384, Kdf.HKDF_SHA384, Aead.AES_256_GCM));
const secret = new Uint8Array(32).fill(7);
const enc = new Uint8Array(97).fill(4);
const nonce = new Uint8Array(32).fill(9);
const cipherFor = (n: Uint8Array) => responseCipher(suite, secret, enc, n);
const text = (s: string) => new TextEncoder().encode(s);

const seal = async (chunks: Uint8Array[]) =>
  right(await sealChunks(chunkedResponseSealer(await cipherFor(nonce), nonce), chunks));

const open = async (body: Uint8Array) => {
  const reader = chunkedResponseReader(32, cipherFor);
  const chunks = await reader.push(body);
  if (E.isLeft(chunks)) return chunks;
  const end = await reader.end();
  return E.isLeft(end) ? end : chunks;
};

Deno.test("LEB128: 0, 127, 128, 16383, 16384 take 1, 1, 2, 2, 3 bytes", () => {
  const cases: [number, string][] = [
    [0, "00"],
    [127, "7f"],
    [128, "8001"],
    [16383, "ff7f"],
    [16384, "808001"],
  ];
  for (const [n, hex] of cases) {
    const bytes = encodeLeb128(n);
    assert.equal(bytesToHex(bytes), hex, `LEB128 of ${n}`);
    assert.deepEqual(right(readLeb128(bytes, 0)), { value: n, next: bytes.length });
  }
});

Deno.test("LEB128: round trip (property); incomplete input waits; overlong is a Left", () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 49 - 1 }), (n) => {
    const bytes = encodeLeb128(n);
    assert.deepEqual(right(readLeb128(bytes, 0)), { value: n, next: bytes.length });
    assert.equal(right(readLeb128(bytes.subarray(0, -1), 0)), undefined);
  }));
  rejects(readLeb128(new Uint8Array(8).fill(0x80), 0), /longer than 7 LEB128 bytes/);
});

Deno.test("chunked response: the response nonce is max(Nk, Nn) = 32 bytes for AES-256-GCM", () => {
  assert.equal(responseNonceLength(suite), 32);
});

Deno.test("chunked response: one chunk is nonce ‖ 00 ‖ LEB128(len) ‖ ct", async () => {
  const body = await seal([text("hello")]);
  assert.deepEqual(body.subarray(0, 32), nonce);
  assert.equal(body[32], 0x00);
  assert.equal(body[33], 5 + TAG_LENGTH);
  assert.equal(body.length, 32 + 2 + 5 + TAG_LENGTH);
  assert.deepEqual(right(await open(body)), [text("hello")]);
});

Deno.test("chunked response: several chunks, the last final, long ones with 2-byte lengths", async () => {
  const chunks = [text("a"), new Uint8Array(200).fill(1), new Uint8Array(0), text("end")];
  const body = await seal(chunks);
  let at = 32;
  const lengths: number[] = [];
  for (let i = 0; i < chunks.length; i++) {
    if (i === chunks.length - 1) assert.equal(body[at++], 0, "final marker");
    const len = right(readLeb128(body, at));
    assert.ok(len);
    lengths.push(len.value);
    at = len.next + len.value;
  }
  assert.equal(at, body.length);
  assert.deepEqual(lengths, chunks.map((c) => c.length + TAG_LENGTH));
  assert.equal(body[32 + 1 + 17], 0xd8, "216 = LEB128 d8 01");
  assert.deepEqual(right(await open(body)), chunks);
});

Deno.test("chunked response: an empty chunk, and no chunks at all (one empty final)", async () => {
  assert.deepEqual(right(await open(await seal([new Uint8Array(0)]))), [new Uint8Array(0)]);
  const none = await seal([]);
  assert.equal(none.length, 32 + 2 + TAG_LENGTH);
  assert.deepEqual(right(await open(none)), [new Uint8Array(0)]);
});

Deno.test("chunked response: a reader fed byte by byte yields every chunk in order", async () => {
  const chunks = [text("first"), text("second"), new Uint8Array(300).fill(3)];
  const body = await seal(chunks);
  const reader = chunkedResponseReader(32, cipherFor);
  const got: Uint8Array[] = [];
  for (let i = 0; i < body.length; i++) {
    got.push(...right(await reader.push(body.subarray(i, i + 1))));
  }
  right(await reader.end());
  assert.deepEqual(got, chunks);
});

Deno.test("chunked response: tampering is a Left", async () => {
  const body = await seal([text("one"), text("two")]);
  const flip = (at: number) => {
    const copy = body.slice();
    copy[at] ^= 1;
    return copy;
  };
  rejects(await open(flip(0)), /chunk 0 failed authentication/);
  rejects(await open(flip(34)), /chunk 0 failed authentication/);
  rejects(await open(flip(body.length - 1)), /chunk 1 \(final\) failed authentication/);
  // Chunk 0 is 1 + 19 bytes at 32; the final chunk follows.
  const final = body.subarray(52);
  rejects(await open(body.subarray(0, 52)), /the final chunk is missing/);
  rejects(await open(body.subarray(0, body.length - 1)), /truncated: the body ends inside chunk 1/);
  rejects(await open(body.subarray(0, 20)), /shorter than the response nonce/);
  rejects(await open(new Uint8Array([...body, 0])), /1 bytes of trailing data after the final/);
  // The final chunk sent as a non-final one: its aad no longer matches.
  const unmarked = new Uint8Array([...body.subarray(0, 52), ...final.subarray(1), ...final]);
  rejects(await open(unmarked), /chunk 1 failed authentication/);
  // Chunks swapped: the sequence numbers no longer match.
  const [c0, c1] = [body.subarray(32, 52), new Uint8Array([0x13, ...final.subarray(2)])];
  rejects(await open(new Uint8Array([...nonce, ...c1, ...c0, ...final])), /chunk 0 failed/);
  // A length shorter than the tag cannot be a chunk.
  rejects(await open(new Uint8Array([...nonce, 5, 1, 2, 3, 4, 5])), /shorter than the 16-byte tag/);
  rejects(await open(new Uint8Array([...nonce, ...new Uint8Array(8).fill(0xff)])), /LEB128/);
});

Deno.test("chunked response: a broken reader stays broken; data after the final is refused", async () => {
  const body = await seal([text("x")]);
  const reader = chunkedResponseReader(32, cipherFor);
  right(await reader.push(body));
  rejects(await reader.push(Uint8Array.of(1)), /trailing data after the final chunk/);
  rejects(await reader.push(new Uint8Array(0)), /trailing data/);
  rejects(await reader.end(), /trailing data/);
});

Deno.test("chunked response: nothing can be sealed after the final chunk", async () => {
  const sealer = chunkedResponseSealer(await cipherFor(nonce), nonce);
  right(await sealer.final(text("done")));
  rejects(await sealer.chunk(text("late")), /already sealed/);
  rejects(await sealer.final(text("late")), /already sealed/);
});

Deno.test("chunked response: concurrent seals keep call order", async () => {
  const sealer = chunkedResponseSealer(await cipherFor(nonce), nonce);
  const parts = await Promise.all([
    sealer.chunk(text("0")),
    sealer.chunk(text("1")),
    sealer.final(text("2")),
  ]);
  const body = new Uint8Array([...nonce, ...parts.flatMap((p) => [...right(p)])]);
  assert.deepEqual(right(await open(body)), [text("0"), text("1"), text("2")]);
});

Deno.test("chunked response: any chunk list round trips (property)", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.uint8Array({ maxLength: 400 }), { maxLength: 6 }),
      async (chunks) => {
        const expected = chunks.length === 0 ? [new Uint8Array(0)] : chunks;
        assert.deepEqual(right(await open(await seal(chunks))), expected);
      },
    ),
    { numRuns: 40 },
  );
});

Deno.test("chunked response: a chunk longer than MAX_CHUNK_BYTES is refused before it is buffered", async () => {
  const reader = chunkedResponseReader(32, cipherFor);
  const huge = encodeLeb128(MAX_CHUNK_BYTES + 1);
  rejects(await reader.push(new Uint8Array([...nonce, ...huge])), /longer than the 16777216/);
  const final = chunkedResponseReader(32, cipherFor);
  rejects(await final.push(new Uint8Array([...nonce, 0, ...huge])), /chunk 0 is 16777217 bytes/);
  // The largest accepted chunk is still read, across many pushes.
  const big = new Uint8Array(MAX_CHUNK_BYTES - TAG_LENGTH).fill(5);
  const body = await seal([big]);
  const streamed = chunkedResponseReader(32, cipherFor);
  const got: Uint8Array[] = [];
  for (let at = 0; at < body.length; at += 64 * 1024) {
    got.push(...right(await streamed.push(body.subarray(at, at + 64 * 1024))));
  }
  right(await streamed.end());
  assert.equal(got.length, 1);
  assert.deepEqual(got[0], big);
});
