import "reflect-metadata";
import assert from "node:assert/strict";
import {
  constants,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  privateDecrypt,
  sign as nodeSign,
  verify as nodeVerify,
  X509Certificate,
} from "node:crypto";
import * as x509 from "@peculiar/x509";
import { base64urlnopad } from "@scure/base";
import { sha256 } from "@noble/hashes/sha2.js";
import { keygen, mgf1, OAEP } from "micro-rsa-dsa-dh/rsa.js";
import * as hc from "../../../ccf/sandbox/hostCrypto.ts";

const utf8 = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
const unhex = (h: string) => new Uint8Array(h.match(/../g)!.map((x) => parseInt(x, 16)));

const expectHostError = (f: () => unknown, errorName: string, message: RegExp) =>
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof hc.HostCryptoError);
    assert.equal(e.errorName, errorName);
    assert.match(e.message, message);
    return true;
  });

Deno.test("hostCrypto: ECDSA P-256/P-384 sign gives P1363 r||s that verifies both ways", () => {
  for (const [curve, size] of [["secp256r1", 64], ["secp384r1", 96]] as const) {
    const { privateKey, publicKey } = hc.generateEcdsaKeyPair(curve);
    assert.match(privateKey, /^-----BEGIN PRIVATE KEY-----/);
    assert.match(publicKey, /^-----BEGIN PUBLIC KEY-----/);
    const data = utf8("message");
    for (const hash of ["SHA-256", "SHA-384", "SHA-512"]) {
      const sig = hc.sign({ name: "ECDSA", hash }, privateKey, data);
      assert.equal(sig.length, size);
      const nodeHash = hash.replace("SHA-", "sha");
      assert.ok(nodeVerify(nodeHash, data, { key: publicKey, dsaEncoding: "ieee-p1363" }, sig));
    }
    const sig = hc.sign({ name: "ECDSA", hash: "SHA-256" }, privateKey, data);
    assert.equal(
      hc.verifySignature({ name: "ECDSA", hash: "SHA-256" }, publicKey, sig, data),
      true,
    );
    assert.equal(
      hc.verifySignature({ name: "ECDSA", hash: "SHA-256" }, publicKey, sig, utf8("other")),
      false,
    );
    const fromNode = nodeSign("sha256", data, { key: privateKey, dsaEncoding: "ieee-p1363" });
    assert.ok(hc.verifySignature({ name: "ECDSA", hash: "SHA-256" }, publicKey, fromNode, data));
  }
  expectHostError(() => hc.generateEcdsaKeyPair("secp256k1"), "RangeError", /Unsupported curve/);
});

Deno.test("hostCrypto: verifySignature accepts SHA-256 only", () => {
  const { privateKey, publicKey } = hc.generateEcdsaKeyPair("secp384r1");
  const sig = hc.sign({ name: "ECDSA", hash: "SHA-384" }, privateKey, utf8("x"));
  expectHostError(
    () => hc.verifySignature({ name: "ECDSA", hash: "SHA-384" }, publicKey, sig, utf8("x")),
    "RangeError",
    /supported: SHA-256$/,
  );
});

Deno.test("hostCrypto: RSA-PSS sign and verify with salt length", () => {
  const { privateKey, publicKey } = hc.generateRsaKeyPair(2048);
  const data = utf8("pss");
  for (const saltLength of [0, 32]) {
    const sig = hc.sign({ name: "RSA-PSS", hash: "SHA-256", saltLength }, privateKey, data);
    assert.ok(
      nodeVerify(
        "sha256",
        data,
        { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength },
        sig,
      ),
    );
    const alg = { name: "RSA-PSS", hash: "SHA-256", saltLength };
    assert.equal(hc.verifySignature(alg, publicKey, sig, data), true);
  }
  expectHostError(
    () => hc.sign({ name: "RSA-PSS", hash: "MD5" }, privateKey, data),
    "RangeError",
    /Unsupported hash/,
  );
});

Deno.test("hostCrypto: RSA-OAEP wrap is SHA-256/MGF1-SHA-256 and unwraps with node:crypto", () => {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const pubPem = publicKey.export({ type: "spki", format: "pem" }) as string;
  const privPem = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  const secret = utf8("a CBOR key, say");
  const wrapped = hc.wrapKey(secret, utf8(pubPem), { name: "RSA-OAEP" });
  assert.equal(wrapped.length, 256);
  const plain = privateDecrypt(
    { key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
    wrapped,
  );
  assert.deepEqual(new Uint8Array(plain), secret);
  assert.deepEqual(hc.unwrapKey(wrapped, utf8(privPem), { name: "RSA-OAEP" }), secret);
  const emptyLabel = hc.wrapKey(secret, utf8(pubPem), {
    name: "RSA-OAEP",
    label: new Uint8Array(),
  });
  assert.deepEqual(hc.unwrapKey(emptyLabel, utf8(privPem), { name: "RSA-OAEP" }), secret);
  const labelled = hc.wrapKey(secret, utf8(pubPem), { name: "RSA-OAEP", label: utf8("L") });
  assert.deepEqual(
    hc.unwrapKey(labelled, utf8(privPem), { name: "RSA-OAEP", label: utf8("L") }),
    secret,
  );
  expectHostError(
    () => hc.unwrapKey(labelled, utf8(privPem), { name: "RSA-OAEP" }),
    "InternalError",
    /^Failed to unwrap key: /,
  );
  expectHostError(
    () => hc.wrapKey(secret, utf8(pubPem), { name: "RSA-PKCS1" }),
    "RangeError",
    /unsupported key wrapping algorithm/,
  );
});

Deno.test("hostCrypto: RSA-OAEP wrap matches WebCrypto's RSA-OAEP SHA-256", async () => {
  const pair = await crypto.subtle.generateKey(
    {
      name: "RSA-OAEP",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["encrypt", "decrypt"],
  );
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
  const pem = createPublicKey({ key: spki as unknown as Buffer, format: "der", type: "spki" })
    .export({ type: "spki", format: "pem" }) as string;
  const wrapped = hc.wrapKey(utf8("k"), utf8(pem), { name: "RSA-OAEP" });
  const plain = await crypto.subtle.decrypt(
    { name: "RSA-OAEP" },
    pair.privateKey,
    new Uint8Array(wrapped),
  );
  assert.equal(new TextDecoder().decode(plain), "k");
});

const pemOf = (label: string, der: ArrayBuffer) =>
  `-----BEGIN ${label}-----\n${
    btoa(String.fromCharCode(...new Uint8Array(der))).match(/.{1,64}/g)!.join("\n")
  }\n-----END ${label}-----\n`;
const bigOf = (b64url: string) =>
  BigInt(
    `0x${
      hex(
        Uint8Array.from(atob(b64url.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)),
      )
    }`,
  );

Deno.test("hostCrypto: RSA-OAEP wraps to a 6144-bit key, which Deno's own crypto refuses", async () => {
  const pair = await crypto.subtle.generateKey(
    {
      name: "RSA-OAEP",
      modulusLength: 6144,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["encrypt", "decrypt"],
  );
  const pem = pemOf("PUBLIC KEY", await crypto.subtle.exportKey("spki", pair.publicKey));
  const privatePem = pemOf("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const jwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
  assert.deepEqual(hc.pubRsaPemToJwk(pem, "t"), { e: "AQAB", kid: "t", kty: "RSA", n: jwk.n });
  assert.equal(hc.pubRsaJwkToPem({ kty: "RSA", n: jwk.n, e: jwk.e }), pem);

  const secret = utf8("a key released to a large TPM key");
  const wrapped = hc.wrapKey(secret, utf8(pem), { name: "RSA-OAEP" });
  assert.equal(wrapped.length, 768);
  const plain = await crypto.subtle.decrypt(
    { name: "RSA-OAEP" },
    pair.privateKey,
    new Uint8Array(wrapped),
  );
  assert.deepEqual(new Uint8Array(plain), secret);
  assert.deepEqual(hc.unwrapKey(wrapped, utf8(privatePem), { name: "RSA-OAEP" }), secret);
  const alg = { name: "RSA-OAEP-AES-KWP", aesKeySize: 256 };
  assert.deepEqual(hc.unwrapKey(hc.wrapKey(secret, utf8(pem), alg), utf8(privatePem), alg), secret);
});

Deno.test("hostCrypto: RSA-OAEP takes a 64-bit exponent, as OpenSSL does", () => {
  const e = 2n ** 63n + 1n;
  const pair = keygen(2048, e);
  const pem = hc.pubRsaJwkToPem(hc.pubRsaPemToJwk(hc.pubRsaJwkToPem({
    kty: "RSA",
    n: base64urlnopad.encode(unhex(pair.publicKey.n.toString(16))),
    e: base64urlnopad.encode(unhex(e.toString(16).padStart(16, "0"))),
  })));
  const secret = utf8("k");
  const wrapped = hc.wrapKey(secret, utf8(pem), { name: "RSA-OAEP" });
  assert.deepEqual(OAEP(sha256, mgf1(sha256)).decrypt(pair.privateKey, wrapped), secret);
});

Deno.test("hostCrypto: RSA-OAEP refuses what OpenSSL refuses, with CCF's InternalError", () => {
  const { publicKey, privateKey } = hc.generateRsaKeyPair(2048);
  const { n } = hc.pubRsaPemToJwk(publicKey);
  const jwkPem = (modulus: bigint, exponent: bigint) =>
    hc.pubRsaJwkToPem({
      kty: "RSA",
      n: base64urlnopad.encode(unhex(modulus.toString(16).padStart(2 * 1024, "0"))),
      e: base64urlnopad.encode(unhex(exponent.toString(16).padStart(18, "0"))),
    });
  const wrap = (pem: string) => () => hc.wrapKey(utf8("k"), utf8(pem), { name: "RSA-OAEP" });
  const even = bigOf(n) - 1n;
  expectHostError(wrap(jwkPem(even, 65537n)), "InternalError", /^Failed to wrap key: .*even/);
  // Above 3072 bits OpenSSL takes exponents of 64 bits at most; below, any smaller than n.
  const big = 2n ** 8191n + 1n;
  expectHostError(wrap(jwkPem(big, 2n ** 64n + 1n)), "InternalError", /bad e value/);
  assert.equal(wrap(jwkPem(big, 2n ** 63n + 1n))().length, 1024);
  assert.equal(wrap(jwkPem(bigOf(n), 2n ** 64n + 1n))().length, 256);
  expectHostError(wrap(privateKey), "InternalError", /^Failed to wrap key: invalid RSA key/);
  expectHostError(
    () => hc.pubRsaJwkToPem({ kty: "RSA", n: "AA", e: "AQAB" }),
    "InternalError",
    /^Failed to convert jwk to pem .*positive/,
  );
});

Deno.test("hostCrypto: AES-KWP matches RFC 5649 and RSA-OAEP-AES-KWP round-trips", () => {
  const kek = unhex("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8");
  const key = unhex("c37b7e6492584340bed12207808941155068f738");
  const wrapped = hc.wrapKey(key, kek, { name: "AES-KWP" });
  assert.equal(hex(wrapped), "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a");
  assert.deepEqual(hc.unwrapKey(wrapped, kek, { name: "AES-KWP" }), key);
  const short = unhex("466f7250617369");
  assert.equal(
    hex(hc.wrapKey(short, kek, { name: "AES-KWP" })),
    "afbeb0f07dfbf5419200f2ccb50bb24f",
  );

  const { privateKey, publicKey } = hc.generateRsaKeyPair(2048);
  const alg = { name: "RSA-OAEP-AES-KWP", aesKeySize: 256 };
  const both = hc.wrapKey(key, utf8(publicKey), alg);
  assert.equal(both.length, 256 + 32);
  assert.deepEqual(hc.unwrapKey(both, utf8(privateKey), alg), key);
});

Deno.test("hostCrypto: digest knows SHA-256 only", () => {
  assert.equal(
    hex(hc.digest("SHA-256", utf8("abc"))),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  expectHostError(() => hc.digest("SHA-384", utf8("abc")), "RangeError", /supported: SHA-256/);
});

Deno.test("hostCrypto: AES keys and EdDSA", () => {
  assert.equal(hc.generateAesKey(256).length, 32);
  assert.equal(hc.generateAesKey(128).length, 16);
  expectHostError(() => hc.generateAesKey(64), "RangeError", /invalid key size/);
  const ed = hc.generateEddsaKeyPair("curve25519");
  const sig = hc.sign({ name: "EdDSA" }, ed.privateKey, utf8("m"));
  assert.equal(sig.length, 64);
  assert.ok(hc.verifySignature({ name: "EdDSA" }, ed.publicKey, sig, utf8("m")));
  assert.equal(hc.pubEddsaPemToJwk(ed.publicKey).crv, "Ed25519");
});

Deno.test("hostCrypto: JWK conversions round-trip with members in CCF's order", () => {
  const ec = hc.generateEcdsaKeyPair("secp384r1");
  const pub = hc.pubPemToJwk(ec.publicKey, "kid1");
  assert.deepEqual(Object.keys(pub), ["crv", "kid", "kty", "x", "y"]);
  assert.equal(pub.crv, "P-384");
  const priv = hc.pemToJwk(ec.privateKey);
  assert.deepEqual(Object.keys(priv), ["crv", "d", "kty", "x", "y"]);
  assert.equal(
    createPublicKey(hc.pubJwkToPem(pub)).export({ format: "jwk" }).x,
    pub.x,
  );
  assert.equal(createPrivateKey(hc.jwkToPem(priv)).asymmetricKeyType, "ec");

  const rsa = hc.generateRsaKeyPair(2048);
  const rpub = hc.pubRsaPemToJwk(rsa.publicKey);
  assert.deepEqual(Object.keys(rpub), ["e", "kty", "n"]);
  assert.equal(rpub.e, "AQAB");
  const rpriv = hc.rsaPemToJwk(rsa.privateKey, "r");
  assert.deepEqual(Object.keys(rpriv), ["d", "dp", "dq", "e", "kid", "kty", "n", "p", "q", "qi"]);
  assert.equal(hc.pubRsaJwkToPem(rpub).trim(), rsa.publicKey.trim());
  assert.match(hc.rsaJwkToPem(rpriv), /^-----BEGIN PRIVATE KEY-----/);

  expectHostError(() => hc.pubPemToJwk(rsa.publicKey), "InternalError", /^Failed to convert pem/);
  expectHostError(() => hc.pubPemToJwk(ec.privateKey), "InternalError", /^Failed to convert pem/);
  expectHostError(() => hc.pubJwkToPem({ kty: "EC" }), "InternalError", /^Failed to convert jwk/);
});

const certs = async () => {
  x509.cryptoProvider.set(crypto);
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const caKeys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]);
  const leafKeys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]);
  const now = Date.now();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=ca",
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + 3600_000),
    keys: caKeys,
    signingAlgorithm: alg,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: "02",
    subject: "CN=leaf",
    issuer: ca.subject,
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + 3600_000),
    publicKey: leafKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: alg,
  });
  return { ca: ca.toString("pem"), leaf: leaf.toString("pem"), leafKeys };
};

Deno.test("hostCrypto: certificates: bundle, chain, pemToId, verify with a cert", async () => {
  const { ca, leaf, leafKeys } = await certs();
  assert.equal(hc.isValidX509CertBundle(ca + "\n" + leaf), true);
  assert.equal(hc.isValidX509CertBundle(""), false);
  assert.equal(
    hc.isValidX509CertBundle("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"),
    false,
  );
  assert.equal(hc.isValidX509CertChain(leaf, ca), true);
  assert.equal(hc.isValidX509CertChain(ca, ca), true);
  assert.equal(hc.isValidX509CertChain(ca, leaf), false);
  assert.equal(hc.isValidX509CertChain(leaf, ca, Date.now() + 7200_000), false);

  const der = new X509Certificate(leaf).raw;
  const expected = hex(new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(der))));
  assert.equal(hc.pemToId(leaf), expected);
  expectHostError(() => hc.pemToId("garbage"), "InternalError", /^Failed to parse PEM: /);

  const data = utf8("signed by leaf");
  const sig = new Uint8Array(
    await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, leafKeys.privateKey, data),
  );
  assert.equal(hc.verifySignature({ name: "ECDSA", hash: "SHA-256" }, leaf, sig, data), true);
});
