import assert from "node:assert/strict";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { p384 } from "@noble/curves/nist.js";
import { x25519 } from "@noble/curves/ed25519.js";
import { encodeRequest } from "../../../client/ohttp/bhttp.ts";
import {
  decapsulateRequest,
  encapsulateRequest,
  type GatewayPrivateKey,
  requestKeyId,
} from "../../../client/ohttp/encapsulation.ts";
import { hpkeSuite, importPrivateKey } from "../../../client/ohttp/suite.ts";
import { readLeb128, TAG_LENGTH } from "../../../client/ohttp/chunkedResponse.ts";
import {
  Aead,
  decodeKeyConfig,
  Kdf,
  Kem,
  type KeyConfig,
  keyConfig,
  keyConfigFromHex,
} from "../../../core/ohttp/keyConfig.ts";
import { D, P384_KID1 } from "../../fixtures/vectors.ts";

const GET_EXAMPLE = "00034745540568747470730b6578616d706c652e636f6d012f";
const OK_200 = "0140c8";

// RFC 9458 Appendix A (X25519, key id 1, suites (1,1) and (1,3)).
const RFC = {
  skR: "3c168975674b2fa8e465970b79c8dcf09f1c741626480bd4c6162fc5b6a98e1a",
  config:
    "01002031e1f05a740102115220e9af918f738674aec95f54db6e04eb705aae8e79815500080001000100010003",
  skE: "bc51d5e930bda26589890ac7032f70ad12e4ecb37abb1b65b1256c9c48999c73",
  pkE: "4b28f881333e7c164ffc499ad9796f877f4e1051ee6d31bad19dec96c208b472",
  request: "010020000100014b28f881333e7c164ffc499ad9796f877f4e1051ee6d31bad19dec96c208b472" +
    "6374e469135906992e1268c594d2a10c695d858c40a026e7965e7d86b83dd440b2c0185204b4d63525",
  responseNonce: "c789e7151fcba46158ca84b04464910d",
  response: "c789e7151fcba46158ca84b04464910d86f9013e404feea014e7be4a441f234f857fbd",
};

const right = <A>(r: E.Either<{ message: string }, A>): A => {
  if (E.isLeft(r)) assert.fail(`expected Right, got Left: ${r.left.message}`);
  return r.right;
};

const rejects = (r: E.Either<{ _tag: string; message: string }, unknown>, message: RegExp) => {
  assert.ok(E.isLeft(r), `expected a rejection matching ${message}`);
  assert.equal(r.left._tag, "InvalidInput");
  assert.match(r.left.message, message);
};

const text = (s: string) => new TextEncoder().encode(s);
const flip = (bytes: Uint8Array, at: number) => {
  const copy = bytes.slice();
  copy[at < 0 ? copy.length + at : at] ^= 1;
  return copy;
};

const p384Config = right(keyConfigFromHex(P384_KID1));
const p384Key = hexToBytes(D);
const x25519Key = x25519.utils.randomSecretKey();
const x25519Config = right(keyConfig({
  keyId: 200,
  kem: Kem.X25519_HKDF_SHA256,
  publicKey: x25519.getPublicKey(x25519Key),
  suites: [{ kdf: Kdf.HKDF_SHA256, aead: Aead.AES_128_GCM }],
}));
const rfcConfig = right(decodeKeyConfig(hexToBytes(RFC.config)));
const prompt = right(encodeRequest({
  method: "POST",
  scheme: "https",
  authority: "gateway.example",
  path: "/score",
  headers: [["content-type", "application/json"]],
  content: text('{"prompt":"What is OHTTP?"}'),
}));

const cases: [string, KeyConfig, Uint8Array][] = [
  ["P-384", p384Config, p384Key],
  ["X25519", x25519Config, x25519Key],
];

/** Client encapsulates, gateway decapsulates with the imported key pair. */
const exchange = async (config: KeyConfig, key: GatewayPrivateKey, request = prompt) => {
  const sent = right(await encapsulateRequest(config, request));
  const pair = key instanceof Uint8Array ? right(await importPrivateKey(config, key)) : key;
  const got = right(await decapsulateRequest(pair, config, sent.body));
  return { sent, got };
};

for (const [name, config, key] of cases) {
  Deno.test(`OHTTP ${name}: request round trip with a standard response`, async () => {
    const { sent, got } = await exchange(config, key);
    assert.deepEqual(got.request, prompt);
    assert.deepEqual(got.header, sent.context.header);
    const response = right(await got.context.sealResponse(hexToBytes(OK_200)));
    assert.equal(bytesToHex(right(await sent.context.openResponse(response))), OK_200);
  });

  Deno.test(`OHTTP ${name}: chunked responses of 1, several and empty chunks`, async () => {
    const { sent, got } = await exchange(config, key);
    for (
      const chunks of [
        [text("only")],
        [text("one "), text("two "), new Uint8Array(500).fill(42), text("three")],
        [new Uint8Array(0)],
        [text("a"), new Uint8Array(0), text("b")],
      ]
    ) {
      const body = right(await got.context.sealChunkedResponse(chunks));
      assert.deepEqual(right(await sent.context.openChunkedResponse(body)), chunks);
    }
  });

  Deno.test(`OHTTP ${name}: the raw private scalar works as the gateway key`, async () => {
    const sent = right(await encapsulateRequest(config, prompt));
    assert.deepEqual(right(await decapsulateRequest(key, config, sent.body)).request, prompt);
  });
}

Deno.test("OHTTP P-384: the request is key_id ‖ 0011 ‖ 0002 ‖ 0002 ‖ enc(97) ‖ ct", async () => {
  const { body } = right(await encapsulateRequest(p384Config, prompt));
  assert.equal(bytesToHex(body.subarray(0, 7)), "01001100020002");
  assert.equal(body[7], 0x04, "enc is an uncompressed SEC1 point");
  p384.Point.fromBytes(body.subarray(7, 104));
  assert.equal(body.length, 7 + 97 + prompt.length + TAG_LENGTH);
  assert.equal(right(requestKeyId(body)), 1);
  rejects(requestKeyId(new Uint8Array(0)), /empty/);
});

Deno.test("OHTTP P-384: the chunked response starts with a 32-byte nonce", async () => {
  const { sent, got } = await exchange(p384Config, p384Key);
  const sealer = right(await got.context.chunkedResponseSealer());
  assert.equal(sealer.nonce.length, 32);
  const parts = [
    sealer.nonce,
    right(await sealer.chunk(text("tok"))),
    right(await sealer.final(text("en"))),
  ];
  const body = new Uint8Array(parts.flatMap((p) => [...p]));
  assert.deepEqual(right(readLeb128(body, 32)), { value: 3 + TAG_LENGTH, next: 33 });
  assert.equal(body[32 + 1 + 3 + TAG_LENGTH], 0, "final chunk marker");
  assert.deepEqual(right(await sent.context.openChunkedResponse(body)), [text("tok"), text("en")]);
  const whole = right(await got.context.sealChunkedResponse([text("x")]));
  assert.equal(whole.length, 32 + 1 + 1 + 1 + TAG_LENGTH);
  assert.equal(whole[32], 0);
});

Deno.test("OHTTP: a streamed response is read as it arrives", async () => {
  const { sent, got } = await exchange(p384Config, p384Key);
  const body = right(await got.context.sealChunkedResponse([text("Hel"), text("lo")]));
  const reader = sent.context.chunkedResponseReader();
  assert.deepEqual(right(await reader.push(body.subarray(0, 40))), []);
  assert.deepEqual(right(await reader.push(body.subarray(40, 60))), [text("Hel")]);
  assert.deepEqual(right(await reader.push(body.subarray(60))), [text("lo")]);
  right(await reader.end());
});

Deno.test("OHTTP: tampered or mismatched requests are Lefts", async () => {
  const pair = right(await importPrivateKey(p384Config, p384Key));
  const { body } = right(await encapsulateRequest(p384Config, prompt));
  const open = (b: Uint8Array) => decapsulateRequest(pair, p384Config, b);
  rejects(await open(flip(body, 0)), /key id 0 does not match this key's id 1/);
  const otherKem = body.slice();
  otherKem[2] = 0x10;
  rejects(await open(otherKem), /KEM 0x0010 does not match key 1's KEM 0x0011/);
  const otherSuite = body.slice();
  otherSuite[4] = 0x01;
  rejects(await open(otherSuite), /suite \(KDF 0x0001, AEAD 0x0002\) is not offered by key 1/);
  rejects(await open(body.subarray(0, 6)), /truncated: 6 bytes, shorter than the 7-byte header/);
  rejects(await open(body.subarray(0, 7 + 97 + 15)), /truncated: 119 bytes, at least 120/);
  rejects(await open(flip(body, -1)), /failed authentication/);
  rejects(await open(flip(body, 7 + 97)), /failed authentication/);
  rejects(await open(flip(body, 50)), /enc is not a valid public key|failed authentication/);
  const offCurve = body.slice();
  offCurve.set(new Uint8Array(96).fill(1), 8);
  rejects(await open(offCurve), /enc is not a valid public key/);
  // The request sealed to another key of the same id.
  const other = p384.utils.randomSecretKey();
  const otherConfig = right(
    keyConfig({ ...p384Config, publicKey: p384.getPublicKey(other, false) }),
  );
  const toOther = right(await encapsulateRequest(otherConfig, prompt)).body;
  rejects(await open(toOther), /failed authentication/);
  rejects(
    await decapsulateRequest(other, p384Config, body),
    /private key does not match the public key of KeyConfig 1/,
  );
});

Deno.test("OHTTP: the header is bound into HPKE's info; an unsupported AEAD is named", async () => {
  const twoSuites = right(keyConfig({
    ...x25519Config,
    suites: [
      { kdf: Kdf.HKDF_SHA256, aead: Aead.AES_128_GCM },
      { kdf: Kdf.HKDF_SHA256, aead: Aead.AES_256_GCM },
      { kdf: Kdf.HKDF_SHA256, aead: Aead.CHACHA20_POLY1305 },
    ],
  }));
  const { body } = right(await encapsulateRequest(twoSuites, prompt));
  assert.equal(bytesToHex(body.subarray(3, 7)), "00010001");
  const relabelled = body.slice();
  relabelled[6] = 0x02;
  rejects(await decapsulateRequest(x25519Key, twoSuites, relabelled), /failed authentication/);
  relabelled[6] = 0x03;
  rejects(
    await decapsulateRequest(x25519Key, twoSuites, relabelled),
    /AEAD 0x0003 is not supported/,
  );
});

Deno.test("OHTTP: tampered, truncated or foreign responses are Lefts", async () => {
  const { sent, got } = await exchange(p384Config, p384Key);
  const response = right(await got.context.sealResponse(hexToBytes(OK_200)));
  rejects(await sent.context.openResponse(flip(response, 0)), /failed authentication/);
  rejects(await sent.context.openResponse(flip(response, -1)), /failed authentication/);
  rejects(await sent.context.openResponse(response.subarray(0, 47)), /truncated: 47 bytes/);
  rejects(await sent.context.openResponse(new Uint8Array([...response, 0])), /failed auth/);
  const other = await exchange(p384Config, p384Key);
  rejects(await other.sent.context.openResponse(response), /failed authentication/);

  const chunked = right(await got.context.sealChunkedResponse([text("a"), text("b")]));
  const open = (b: Uint8Array) => sent.context.openChunkedResponse(b);
  rejects(await open(flip(chunked, 40)), /chunk 0 failed authentication/);
  rejects(await open(flip(chunked, -1)), /chunk 1 \(final\) failed authentication/);
  rejects(await open(chunked.subarray(0, 32 + 1 + 17)), /the final chunk is missing/);
  rejects(await open(chunked.subarray(0, chunked.length - 3)), /truncated/);
  rejects(
    await open(new Uint8Array([...chunked, 1, 2])),
    /2 bytes of trailing data after the final/,
  );
  rejects(await other.sent.context.openChunkedResponse(chunked), /chunk 0 failed authentication/);
  // A standard response is not a chunked one, and the other way round.
  rejects(await open(response), /chunk|truncated/);
  rejects(await sent.context.openResponse(chunked), /failed authentication/);
});

Deno.test("OHTTP: an injected response nonce must have the suite's length", async () => {
  const { got } = await exchange(p384Config, p384Key);
  rejects(
    await got.context.sealResponse(prompt, { nonce: new Uint8Array(16) }),
    /response nonce must be 32 bytes, got 16/,
  );
  rejects(
    await got.context.chunkedResponseSealer({ nonce: new Uint8Array(33) }),
    /must be 32 bytes/,
  );
});

Deno.test("RFC 9458 Appendix A: the example request and response, byte for byte", async () => {
  const kem = right(hpkeSuite(Kem.X25519_HKDF_SHA256, Kdf.HKDF_SHA256, Aead.AES_128_GCM))
    .cipherSuite.kem;
  const ephemeralKeyPair: CryptoKeyPair = {
    privateKey: await kem.importKey("raw", hexToBytes(RFC.skE).buffer, false),
    publicKey: await kem.importKey("raw", hexToBytes(RFC.pkE).buffer, true),
  };
  const sent = right(
    await encapsulateRequest(rfcConfig, hexToBytes(GET_EXAMPLE), { ephemeralKeyPair }),
  );
  assert.equal(bytesToHex(sent.body), RFC.request);

  const got = right(
    await decapsulateRequest(hexToBytes(RFC.skR), rfcConfig, hexToBytes(RFC.request)),
  );
  assert.equal(bytesToHex(got.request), GET_EXAMPLE);
  assert.deepEqual(got.header, { keyId: 1, kem: 0x20, kdf: 1, aead: 1 });
  const response = right(
    await got.context.sealResponse(hexToBytes(OK_200), { nonce: hexToBytes(RFC.responseNonce) }),
  );
  assert.equal(bytesToHex(response), RFC.response);
  assert.equal(
    bytesToHex(right(await sent.context.openResponse(hexToBytes(RFC.response)))),
    OK_200,
  );
});

Deno.test("OHTTP: arbitrary bytes never throw, they are Lefts (property)", async () => {
  const { sent } = await exchange(p384Config, p384Key);
  const pair = right(await importPrivateKey(p384Config, p384Key));
  const header = hexToBytes("01001100020002");
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.uint8Array({ maxLength: 200 }),
        fc.uint8Array({ minLength: 97 + 16, maxLength: 200 }).map((b) =>
          new Uint8Array([...header, ...b])
        ),
      ),
      async (bytes) => {
        assert.ok(E.isLeft(await decapsulateRequest(pair, p384Config, bytes)));
        assert.ok(E.isLeft(await sent.context.openResponse(bytes)));
        assert.ok(E.isLeft(await sent.context.openChunkedResponse(bytes)));
      },
    ),
    { numRuns: 60 },
  );
});
