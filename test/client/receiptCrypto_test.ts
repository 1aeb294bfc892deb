import assert from "node:assert/strict";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate } from "@peculiar/asn1-x509";
import { p384 } from "@noble/curves/nist.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { base64 } from "@scure/base";
import { utf8 } from "../../core/bytes.ts";
import { denoReceiptCrypto } from "../../client/receiptCrypto.ts";
import { createReceiptIssuer, signRoot } from "../fixtures/receipts.ts";

const { verifyEndorsement, verifyDigestSignature } = denoReceiptCrypto;

const issuer = await createReceiptIssuer();
const sameNameOtherService = await createReceiptIssuer();

type KeyAlgorithm = RsaHashedKeyGenParams | EcKeyGenParams;

const ecdsa = (curve: string, hash: string) => ({
  key: { name: "ECDSA", namedCurve: curve } as KeyAlgorithm,
  signing: { name: "ECDSA", hash },
});
const RSA = {
  key: {
    name: "RSASSA-PKCS1-v1_5",
    modulusLength: 2048,
    publicExponent: new Uint8Array([1, 0, 1]),
    hash: "SHA-256",
  } as KeyAlgorithm,
  signing: { name: "RSASSA-PKCS1-v1_5" },
};

/** A CA of the given algorithm and a leaf certificate it signs for a key of the same kind. */
const chainOf = async (alg: { key: KeyAlgorithm; signing: Algorithm }) => {
  const caKeys = await crypto.subtle.generateKey(alg.key, true, ["sign", "verify"]);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "0a",
    name: "CN=Other CA",
    signingAlgorithm: alg.signing,
    keys: caKeys,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  const leafKeys = await crypto.subtle.generateKey(alg.key, true, ["sign", "verify"]);
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: "0b",
    subject: "CN=Other Node",
    issuer: ca.subjectName,
    signingAlgorithm: alg.signing,
    publicKey: leafKeys.publicKey,
    signingKey: caKeys.privateKey,
  });
  return { caPem: ca.toString("pem"), leafPem: leaf.toString("pem"), leafKeys };
};

const derOf = (pem: string) =>
  base64.decode(pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""));
const pemOf = (der: Uint8Array) =>
  `-----BEGIN CERTIFICATE-----\n${base64.encode(der)}\n-----END CERTIFICATE-----\n`;

/** WebCrypto's own answer, as an independent oracle. */
const webCryptoEndorses = (certPem: string, issuerPem: string): Promise<boolean> =>
  new x509.X509Certificate(certPem).verify({
    publicKey: new x509.X509Certificate(issuerPem).publicKey,
    signatureOnly: true,
  });

Deno.test("endorsement agrees with WebCrypto on P-384/SHA-384 and P-256/SHA-256 chains", async () => {
  const p256Chain = await chainOf(ecdsa("P-256", "SHA-256"));
  const cases: [string, string, boolean][] = [
    [issuer.nodeCertPem, issuer.serviceCertPem, true],
    [issuer.nodeCertPem, sameNameOtherService.serviceCertPem, false],
    [p256Chain.leafPem, p256Chain.caPem, true],
  ];
  for (const [cert, ca, expected] of cases) {
    assert.equal(await webCryptoEndorses(cert, ca), expected);
    assert.equal(verifyEndorsement(cert, ca), expected);
  }
});

Deno.test("a node certificate naming another issuer is refused with a reason", async () => {
  const misnamed = await createReceiptIssuer({ nodeIssuerName: "Someone Else" });
  assert.throws(
    () => verifyEndorsement(misnamed.nodeCertPem, misnamed.serviceCertPem),
    /issuer is not the service certificate's subject/,
  );
});

Deno.test("a node certificate that is a CA is refused, even when correctly signed", async () => {
  const ca = await createReceiptIssuer({ nodeIsCa: true });
  assert.equal(await webCryptoEndorses(ca.nodeCertPem, ca.serviceCertPem), true);
  assert.throws(
    () => verifyEndorsement(ca.nodeCertPem, ca.serviceCertPem),
    /node certificate is a CA certificate/,
  );
});

Deno.test("RSA certificates are refused with a message that says so", async () => {
  const rsa = await chainOf(RSA);
  assert.throws(() => verifyEndorsement(rsa.leafPem, rsa.caPem), /is not ECDSA with SHA-256/);
  assert.throws(
    () => verifyDigestSignature(rsa.leafPem, new Uint8Array(32), new Uint8Array(8)),
    /RSA is not supported/,
  );
});

Deno.test("certificates must be exactly one PEM block of strict DER", () => {
  const pem = issuer.nodeCertPem;
  for (
    const bad of ["", "garbage", pem + pem, pem + "trailer", pem.replace("CERTIFICATE", "KEY")]
  ) {
    assert.throws(() => verifyEndorsement(bad, issuer.serviceCertPem), /exactly one PEM/);
  }
  assert.equal(verifyEndorsement(pem.replaceAll("\n", "\r\n"), issuer.serviceCertPem), true);
  const der = derOf(pem);
  const { signatureValue } = AsnConvert.parse(der, Certificate);
  const unusedBitsAt = der.length - signatureValue.byteLength - 1;
  assert.equal(der[unusedBitsAt], 0);
  const flipped = der.slice();
  flipped[unusedBitsAt] = 1;
  // The BER parser reads the same signature from it, so only the DER check can catch the change.
  assert.deepEqual(AsnConvert.parse(flipped, Certificate).signatureValue, signatureValue);
  assert.throws(
    () => verifyEndorsement(pemOf(flipped), issuer.serviceCertPem),
    /not a DER-encoded X\.509 certificate/,
  );
});

Deno.test("a root signature is prehashed ECDSA: WebCrypto's ECDSA-SHA-256 over m verifies as a signature of SHA-256(m)", async () => {
  const message = new Uint8Array(utf8("a Merkle root stand-in"));
  const p1363 = new Uint8Array(
    await crypto.subtle.sign(
      { name: "ECDSA", hash: "SHA-256" },
      issuer.nodeKeys.privateKey,
      message,
    ),
  );
  const der = p384.Signature.fromBytes(p1363, "compact").toBytes("der");
  assert.equal(verifyDigestSignature(issuer.nodeCertPem, sha256(message), der), true);
  assert.equal(verifyDigestSignature(issuer.nodeCertPem, sha256(utf8("other")), der), false);
});

Deno.test("both the low-S and the high-S form of a signature verify, as OpenSSL accepts both", () => {
  const root = sha256(utf8("root"));
  const sig = p384.Signature.fromBytes(signRoot(issuer, root), "der");
  const twin = new p384.Signature(sig.r, p384.Point.Fn.neg(sig.s));
  assert.notEqual(sig.hasHighS(), twin.hasHighS());
  for (const s of [sig, twin]) {
    assert.equal(verifyDigestSignature(issuer.nodeCertPem, root, s.toBytes("der")), true);
  }
});

Deno.test("a signature by another node's key or over another root does not verify", () => {
  const root = sha256(utf8("root"));
  const foreign = signRoot(sameNameOtherService, root);
  assert.equal(verifyDigestSignature(issuer.nodeCertPem, root, foreign), false);
  const own = signRoot(issuer, root);
  assert.equal(verifyDigestSignature(issuer.nodeCertPem, sha256(root), own), false);
  assert.equal(verifyDigestSignature(sameNameOtherService.nodeCertPem, root, own), false);
});
