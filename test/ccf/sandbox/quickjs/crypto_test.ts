import assert from "node:assert/strict";
import { constants, generateKeyPairSync, privateDecrypt, verify } from "node:crypto";
import { Harness, json, singleModuleApp } from "./_harness.ts";

const source = `
const attempt = (f) => { try { return f(); } catch (e) { return e.constructor.name + ": " + e.message; } };
const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
const b64 = (buf) => {
  const bytes = new Uint8Array(buf); let s = "";
  for (const x of bytes) s += String.fromCharCode(x);
  const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  let out = "";
  for (let i = 0; i < s.length; i += 3) {
    const n = (s.charCodeAt(i) << 16) | ((s.charCodeAt(i + 1) || 0) << 8) | (s.charCodeAt(i + 2) || 0);
    out += chars[n >> 18] + chars[(n >> 12) & 63] + (i + 1 < s.length ? chars[(n >> 6) & 63] : "=") +
      (i + 2 < s.length ? chars[n & 63] : "=");
  }
  return out;
};

export function wrap(request) {
  const { pem, secret } = request.body.json();
  const wrapped = ccf.crypto.wrapKey(ccf.strToBuf(secret), ccf.strToBuf(pem), { name: "RSA-OAEP" });
  return { body: { wrapped: b64(wrapped) } };
}

export function signing() {
  const pair = ccf.crypto.generateEcdsaKeyPair("secp384r1");
  const data = ccf.strToBuf("payload");
  const signature = ccf.crypto.sign({ name: "ECDSA", hash: "SHA-256" }, pair.privateKey, data);
  const jwk = ccf.crypto.pemToJwk(pair.privateKey, "kid-1");
  return { body: {
    publicKey: pair.publicKey, signature: b64(signature), size: signature.byteLength,
    verified: ccf.crypto.verifySignature({ name: "ECDSA", hash: "SHA-256" }, pair.publicKey, signature, data),
    jwkKeys: Object.keys(jwk), kid: jwk.kid,
    backToPem: ccf.crypto.pubJwkToPem(ccf.crypto.pubPemToJwk(pair.publicKey)) === pair.publicKey,
  } };
}

export function errors() {
  const data = ccf.strToBuf("x");
  return { body: {
    digest256: hex(ccf.crypto.digest("SHA-256", ccf.strToBuf("abc"))),
    digest384: attempt(() => ccf.crypto.digest("SHA-384", data)),
    digestView: attempt(() => ccf.crypto.digest("SHA-256", new Uint8Array(1))),
    aes64: attempt(() => ccf.crypto.generateAesKey(64)),
    aes256: ccf.crypto.generateAesKey(256).byteLength,
    curve: attempt(() => ccf.crypto.generateEcdsaKeyPair("secp256k1")),
    wrapAlgo: attempt(() => ccf.crypto.wrapKey(data, data, { name: "DES" })),
    wrapBadKey: attempt(() => ccf.crypto.wrapKey(data, ccf.strToBuf("not a pem"), { name: "RSA-OAEP" })),
    verify384: attempt(() => ccf.crypto.verifySignature({ name: "ECDSA", hash: "SHA-384" }, "", data, data)),
    pemToId: attempt(() => ccf.pemToId("nope")),
    bundle: ccf.crypto.isValidX509CertBundle("nope"),
    signArgs: attempt(() => ccf.crypto.sign({ name: "ECDSA", hash: "SHA-256" }, "k")),
    unbound: typeof (0, ccf.crypto.digest),
    unboundCall: hex((0, ccf.crypto.digest)("SHA-256", data)).length,
  } };
}
`;

const setup = async () => new Harness(await singleModuleApp(source, ["wrap", "signing", "errors"]));

Deno.test("app crypto: RSA-OAEP wrapKey in the app unwraps with node:crypto OAEP SHA-256", async () => {
  const h = await setup();
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const pem = publicKey.export({ type: "spki", format: "pem" }) as string;
  const r = h.run({
    method: "GET",
    path: "/wrap",
    body: new TextEncoder().encode(JSON.stringify({ pem, secret: "private key bytes" })),
  });
  assert.equal(r.status, 200);
  const wrapped = Uint8Array.from(
    atob((json(r) as { wrapped: string }).wrapped),
    (c) => c.charCodeAt(0),
  );
  const plain = privateDecrypt(
    { key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
    wrapped,
  );
  assert.equal(new TextDecoder().decode(plain), "private key bytes");
  h.app.dispose();
});

Deno.test("app crypto: ECDSA signatures are P1363 and JWKs convert", async () => {
  const h = await setup();
  const body = json(h.run("/signing")) as Record<string, unknown>;
  assert.equal(body.size, 96);
  assert.equal(body.verified, true);
  const sig = Uint8Array.from(atob(body.signature as string), (c) => c.charCodeAt(0));
  assert.ok(
    verify(
      "sha256",
      new TextEncoder().encode("payload"),
      { key: body.publicKey as string, dsaEncoding: "ieee-p1363" },
      sig,
    ),
  );
  assert.deepEqual(body.jwkKeys, ["crv", "d", "kid", "kty", "x", "y"]);
  assert.equal(body.kid, "kid-1");
  assert.equal(body.backToPem, true);
  h.app.dispose();
});

Deno.test("app crypto: CCF's errors (digest SHA-384 is a RangeError, ...)", async () => {
  const h = await setup();
  const { wrapBadKey, pemToId, ...rest } = json(h.run("/errors")) as Record<string, unknown>;
  assert.match(wrapBadKey as string, /^InternalError: Failed to wrap key: /);
  assert.match(pemToId as string, /^InternalError: Failed to parse PEM: /);
  assert.deepEqual(rest, {
    digest256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    digest384: "RangeError: unsupported digest algorithm, supported: SHA-256",
    digestView: "TypeError: ArrayBuffer object expected",
    aes64: "RangeError: invalid key size (not one of 128, 192, 256)",
    aes256: 32,
    curve: "RangeError: Unsupported curve id, supported: secp256r1, secp384r1, secp521r1",
    wrapAlgo:
      "RangeError: unsupported key wrapping algorithm, supported: RSA-OAEP, AES-KWP, RSA-OAEP-AES-KWP",
    verify384: "RangeError: Unsupported hash algorithm, supported: SHA-256",
    bundle: false,
    signArgs: "TypeError: Passed 2 arguments, but expected 3",
    unbound: "function",
    unboundCall: 64,
  });
  h.app.dispose();
});
