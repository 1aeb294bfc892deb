import assert from "node:assert/strict";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import {
  type BhttpRequest,
  type BhttpResponse,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  encodeVarint,
  type Field,
} from "../../../client/ohttp/bhttp.ts";

// Samples of the peers' interop vectors (also RFC 9458 Appendix A).
const GET_EXAMPLE = "00034745540568747470730b6578616d706c652e636f6d012f";
const OK_200 = "0140c8";

const right = <A>(r: E.Either<{ message: string }, A>): A => {
  if (E.isLeft(r)) assert.fail(`expected Right, got Left: ${r.left.message}`);
  return r.right;
};

const rejects = (r: E.Either<{ _tag: string; message: string }, unknown>, message: RegExp) => {
  assert.ok(E.isLeft(r), `expected a rejection matching ${message}`);
  assert.equal(r.left._tag, "InvalidInput");
  assert.match(r.left.message, message);
};

const get: BhttpRequest = {
  method: "GET",
  scheme: "https",
  authority: "example.com",
  path: "/",
  headers: [],
  content: new Uint8Array(0),
};

Deno.test("bhttp: the sample request decodes to GET https example.com /", () => {
  assert.deepEqual(right(decodeRequest(hexToBytes(GET_EXAMPLE))), { ...get, trailers: [] });
});

Deno.test("bhttp: GET https example.com / encodes to the sample bytes", () => {
  assert.equal(bytesToHex(right(encodeRequest(get))), GET_EXAMPLE);
});

Deno.test("bhttp: the sample response is a bare 200, and encodes back", () => {
  const ok: BhttpResponse = {
    informational: [],
    status: 200,
    headers: [],
    content: new Uint8Array(0),
    trailers: [],
  };
  assert.deepEqual(right(decodeResponse(hexToBytes(OK_200))), ok);
  assert.equal(bytesToHex(right(encodeResponse(ok))), OK_200);
});

Deno.test("bhttp: QUIC varints take 1, 2, 4 and 8 bytes", () => {
  for (
    const [n, hex] of [
      [0, "00"],
      [63, "3f"],
      [64, "4040"],
      [16383, "7fff"],
      [16384, "80004000"],
      [2 ** 30 - 1, "bfffffff"],
      [2 ** 30, "c000000040000000"],
      [Number.MAX_SAFE_INTEGER, "c01fffffffffffff"],
    ] as const
  ) {
    assert.equal(bytesToHex(encodeVarint(n)), hex, `varint ${n}`);
  }
});

Deno.test("bhttp: a request with headers, content and trailers keeps every section", () => {
  const post: BhttpRequest = {
    method: "POST",
    scheme: "https",
    authority: "gateway.example:8443",
    path: "/score?x=1",
    headers: [["content-type", "multipart/form-data; boundary=x"], ["x-obs", "caf\u00e9\u00ff"]],
    content: new TextEncoder().encode("hello"),
    trailers: [["x-checksum", "abc"]],
  };
  assert.deepEqual(right(decodeRequest(right(encodeRequest(post)))), post);
});

Deno.test("bhttp: an interim response precedes the final one", () => {
  const r: BhttpResponse = {
    informational: [{ status: 103, headers: [["link", "</a.css>; rel=preload"]] }],
    status: 404,
    headers: [["content-length", "0"]],
    content: new Uint8Array(0),
    trailers: [],
  };
  assert.deepEqual(right(decodeResponse(right(encodeResponse(r)))), r);
});

Deno.test("bhttp: zero padding after the message is accepted", () => {
  const padded = hexToBytes(GET_EXAMPLE + "000000000000");
  assert.deepEqual(right(decodeRequest(padded)), { ...get, trailers: [] });
  assert.equal(right(decodeResponse(hexToBytes(OK_200 + "0000000000"))).status, 200);
});

Deno.test("bhttp: malformed messages are Lefts with a reason", () => {
  rejects(decodeRequest(new Uint8Array(0)), /truncated.*framing indicator/);
  rejects(decodeRequest(hexToBytes(OK_200)), /framing indicator 1 is not a known-length request/);
  rejects(decodeResponse(hexToBytes(GET_EXAMPLE)), /framing indicator 0/);
  rejects(decodeRequest(hexToBytes("02")), /indeterminate-length requests/);
  rejects(decodeResponse(hexToBytes("03")), /indeterminate-length responses/);
  rejects(decodeRequest(hexToBytes(GET_EXAMPLE.slice(0, -2))), /truncated: the path declares 1/);
  rejects(decodeRequest(hexToBytes("000347")), /truncated: the method declares 3/);
  rejects(decodeRequest(hexToBytes(GET_EXAMPLE + "05")), /header section declares 5/);
  rejects(
    decodeRequest(hexToBytes(GET_EXAMPLE + "00000000ff")),
    /2 bytes after the message are not zero padding/,
  );
  rejects(decodeRequest(hexToBytes(GET_EXAMPLE + "020178")), /truncated.*field 0 value/);
  rejects(decodeResponse(hexToBytes("0140")), /truncated: the message ends inside the status/);
  rejects(decodeResponse(hexToBytes("01")), /truncated: the message ends before the status/);
  rejects(decodeResponse(hexToBytes("014063")), /final status must be 200..599, got 99/);
  rejects(decodeResponse(hexToBytes("014258")), /final status must be 200..599, got 600/);
  rejects(decodeRequest(hexToBytes("00ffffffffffffffff")), /too large/);
});

Deno.test("bhttp: strings that are not bytes and bad statuses do not encode", () => {
  rejects(encodeRequest({ ...get, path: "/\u20ac" }), /path has a character above U\+00FF/);
  rejects(
    encodeRequest({ ...get, headers: [["x", "\u{1f600}"]] }),
    /header 0 value has a character above/,
  );
  rejects(encodeResponse({ status: 199, headers: [], content: new Uint8Array(0) }), /final/);
  rejects(
    encodeResponse({
      informational: [{ status: 200, headers: [] }],
      status: 200,
      headers: [],
      content: new Uint8Array(0),
    }),
    /informational status must be 100..199/,
  );
});

const byteString = fc.string({
  unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)),
});
const field: fc.Arbitrary<Field> = fc.tuple(byteString, byteString);
const fields = fc.array(field, { maxLength: 5 });
const content = fc.uint8Array({ maxLength: 300 });

Deno.test("bhttp: requests round trip (property)", () => {
  fc.assert(fc.property(
    fc.record({
      method: fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT"),
      scheme: fc.constantFrom("https", "http"),
      authority: byteString,
      path: fc.oneof(fc.webPath(), byteString),
      headers: fields,
      content,
      trailers: fields,
    }),
    (r) => {
      assert.deepEqual(right(decodeRequest(right(encodeRequest(r)))), { ...r });
    },
  ));
});

Deno.test("bhttp: responses round trip (property)", () => {
  fc.assert(fc.property(
    fc.record({
      informational: fc.array(
        fc.record({ status: fc.integer({ min: 100, max: 199 }), headers: fields }),
        { maxLength: 2 },
      ),
      status: fc.integer({ min: 200, max: 599 }),
      headers: fields,
      content,
      trailers: fields,
    }),
    (r) => {
      assert.deepEqual(right(decodeResponse(right(encodeResponse(r)))), {
        ...r,
        informational: r.informational.map((i) => ({ ...i })),
      });
    },
  ));
});

Deno.test("bhttp: arbitrary bytes never throw (property)", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      decodeRequest(bytes);
      decodeResponse(bytes);
      decodeRequest(Uint8Array.of(0, ...bytes));
      decodeResponse(Uint8Array.of(1, ...bytes));
    }),
    { numRuns: 2000 },
  );
});
