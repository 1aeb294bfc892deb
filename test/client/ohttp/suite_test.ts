import assert from "node:assert/strict";
import * as E from "fp-ts/lib/Either.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { p384 } from "@noble/curves/nist.js";
import {
  clientSuite,
  hpkeSuite,
  importPrivateKey,
  importPublicKey,
} from "../../../client/ohttp/suite.ts";
import {
  Aead,
  decodeKeyConfig,
  Kdf,
  Kem,
  keyConfig,
  keyConfigFromHex,
  p384KeyConfig,
} from "../../../core/ohttp/keyConfig.ts";
import { D, P384_KID1, X, Y } from "../../fixtures/vectors.ts";

// RFC 9458 Appendix A: the gateway's X25519 key.
const RFC_SKR = "3c168975674b2fa8e465970b79c8dcf09f1c741626480bd4c6162fc5b6a98e1a";
const RFC_CONFIG =
  "01002031e1f05a740102115220e9af918f738674aec95f54db6e04eb705aae8e79815500080001000100010003";

const right = <A>(r: E.Either<{ message: string }, A>): A => {
  if (E.isLeft(r)) assert.fail(`expected Right, got Left: ${r.left.message}`);
  return r.right;
};

const rejects = (r: E.Either<{ _tag: string; message: string }, unknown>, message: RegExp) => {
  assert.ok(E.isLeft(r), `expected a rejection matching ${message}`);
  assert.equal(r.left._tag, "InvalidInput");
  assert.match(r.left.message, message);
};

const p384Config = right(keyConfigFromHex(P384_KID1));

Deno.test("importPrivateKey: the §7 scalar d is the gateway key of the §7 KeyConfig", async () => {
  const pair = right(await importPrivateKey(p384Config, hexToBytes(D)));
  assert.equal(pair.privateKey.type, "private");
  assert.equal(pair.privateKey.extractable, false, "the private key never leaves WebCrypto");
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  assert.equal(bytesToHex(raw), "04" + X + Y);
});

Deno.test("importPrivateKey: a scalar of another key is reported as a mismatch", async () => {
  const other = p384.utils.randomSecretKey();
  rejects(
    await importPrivateKey(p384Config, other),
    /private key does not match the public key of KeyConfig 1/,
  );
  const otherConfig = right(p384KeyConfig(7, p384.getPublicKey(other, false)));
  rejects(await importPrivateKey(otherConfig, hexToBytes(D)), /does not match .* KeyConfig 7/);
});

Deno.test("importPrivateKey: wrong lengths and invalid scalars are Lefts", async () => {
  rejects(await importPrivateKey(p384Config, new Uint8Array(47)), /must be 48 bytes, got 47/);
  rejects(await importPrivateKey(p384Config, new Uint8Array(48)), /not a valid scalar/);
  rejects(
    await importPrivateKey(p384Config, new Uint8Array(48).fill(0xff)),
    /not a valid scalar/,
  );
  const x25519 = right(decodeKeyConfig(hexToBytes(RFC_CONFIG)));
  rejects(await importPrivateKey(x25519, hexToBytes(D)), /must be 32 bytes, got 48/);
});

Deno.test("importPrivateKey: the RFC 9458 X25519 gateway key matches its config", async () => {
  const x25519 = right(decodeKeyConfig(hexToBytes(RFC_CONFIG)));
  right(await importPrivateKey(x25519, hexToBytes(RFC_SKR)));
  rejects(await importPrivateKey(x25519, new Uint8Array(32).fill(1)), /does not match/);
});

Deno.test("importPublicKey: a point off the curve is a Left", async () => {
  const bad = right(p384KeyConfig(2, Uint8Array.of(4, ...new Uint8Array(96).fill(1))));
  rejects(await importPublicKey(bad), /KeyConfig 2: the public key is not a valid curve point/);
});

Deno.test("clientSuite: the first supported suite, as the real client picks it", () => {
  const s = right(clientSuite(p384Config));
  assert.deepEqual([s.kem, s.kdf, s.aead], [0x11, 2, 2]);
  assert.equal(s.encLength, 97);
  const chachaFirst = right(keyConfig({
    keyId: 3,
    kem: Kem.X25519_HKDF_SHA256,
    publicKey: new Uint8Array(32),
    suites: [
      { kdf: Kdf.HKDF_SHA256, aead: Aead.CHACHA20_POLY1305 },
      { kdf: Kdf.HKDF_SHA512, aead: Aead.AES_128_GCM },
    ],
  }));
  const picked = right(clientSuite(chachaFirst));
  assert.deepEqual([picked.kdf, picked.aead, picked.encLength], [3, 1, 32]);
  const chachaOnly = right(keyConfig({
    ...chachaFirst,
    suites: [{ kdf: Kdf.HKDF_SHA256, aead: Aead.CHACHA20_POLY1305 }],
  }));
  rejects(clientSuite(chachaOnly), /KeyConfig 3 offers no supported symmetric suite/);
});

Deno.test("hpkeSuite: unknown ids are named in the Left", () => {
  rejects(hpkeSuite(0x10, 1, 1), /KEM 0x0010 is not supported/);
  rejects(hpkeSuite(0x11, 9, 1), /KDF 0x0009 is not supported/);
  rejects(hpkeSuite(0x11, 2, 3), /AEAD 0x0003 is not supported/);
  assert.equal(right(hpkeSuite(0x11, 2, 2)), right(hpkeSuite(0x11, 2, 2)), "suites are shared");
});
