import "reflect-metadata";
import assert from "node:assert/strict";
import * as x509 from "@peculiar/x509";
import * as E from "fp-ts/lib/Either.js";
import { utf8 } from "../../../core/bytes.ts";
import { verifyReceipt } from "../../../core/receipt/verify.ts";
import { receiptVerifier } from "../../../client/kms/receiptVerifier.ts";
import { denoReceiptCrypto } from "../../../client/receiptCrypto.ts";
import { createReceiptIssuer, leafFor, mintTreeReceipts } from "../../fixtures/receipts.ts";

const claim = "01001104" + "ab".repeat(96) + "000400020002";
const issuer = await createReceiptIssuer();
const leaves = Array.from(
  { length: 9 },
  (_, i) => leafFor(utf8(i === 4 ? claim : `other-${i}`), i + 1),
);
const { receipts } = mintTreeReceipts(issuer, leaves);
const receipt = receipts[4];
const [first, ...rest] = receipt.proof;
const flipped = Object.fromEntries(
  Object.entries(first).map((
    [side, hash],
  ) => [side, (hash[0] === "0" ? "1" : "0") + hash.slice(1)]),
);

Deno.test("receiptVerifier accepts a good receipt, as JSON text or object, many times", async () => {
  const verifier = receiptVerifier(issuer.serviceCertPem);
  for (const input of [receipt, JSON.stringify(receipt), receipt]) {
    const r = await verifier.verify(input, claim);
    assert.ok(E.isRight(r), E.isLeft(r) ? r.left.message : "");
  }
});

Deno.test("receiptVerifier fails closed with the check named, agreeing with the core verifier", async () => {
  const verifier = receiptVerifier(issuer.serviceCertPem);
  const other = await createReceiptIssuer();
  const cases: [unknown, string, string][] = [
    [receipt, "not the claim", "claims_digest"],
    [{ ...receipt, proof: [flipped, ...rest] }, claim, "signature"],
    [
      { ...receipt, leaf_components: { ...receipt.leaf_components, commit_evidence: "ce:2.1:00" } },
      claim,
      "signature",
    ],
    [{ ...receipt, cert: other.nodeCertPem }, claim, "endorsement"],
    [{ ...receipt, signature: "AAAA" }, claim, "signature"],
    [{ ...receipt, proof: [{ left: "00", right: "00" }] }, claim, "format"],
  ];
  for (const [input, expectedClaim, check] of cases) {
    const r = await verifier.verify(input, expectedClaim);
    assert.ok(E.isLeft(r) && r.left._tag === "InvalidReceipt", check);
    assert.equal(r.left.check, check);
    const core = verifyReceipt(denoReceiptCrypto, {
      receipt: input,
      serviceCertPem: issuer.serviceCertPem,
      expected: { claim: utf8(expectedClaim) },
    });
    assert.ok(E.isLeft(core), `the core verifier accepted what the client refused (${check})`);
    assert.deepEqual(core.left, r.left, `the two runners disagree (${check})`);
  }
  const stranger = await receiptVerifier(other.serviceCertPem).verify(receipt, claim);
  assert.ok(
    E.isLeft(stranger) && stranger.left._tag === "InvalidReceipt" &&
      stranger.left.check === "endorsement",
  );
});

Deno.test("receiptVerifier answers like the core where WebCrypto cannot take the node key", async () => {
  // An endorsed node certificate with an RSA key: the failure is the signature check's, with the
  // synchronous crypto's reason, not an endorsement failure of the client's own making.
  const rsa = await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  );
  const node = await x509.X509CertificateGenerator.create({
    serialNumber: "03",
    subject: "CN=CCF Node",
    issuer: new x509.X509Certificate(issuer.serviceCertPem).subjectName,
    notBefore: new Date("2024-01-01T00:00:00Z"),
    notAfter: new Date("2034-01-01T00:00:00Z"),
    signingAlgorithm: { name: "ECDSA", hash: "SHA-384" },
    publicKey: rsa.publicKey,
    signingKey: issuer.serviceKeys.privateKey,
  });
  const input = { ...receipt, cert: node.toString("pem") };
  const r = await receiptVerifier(issuer.serviceCertPem).verify(input, claim);
  const core = verifyReceipt(denoReceiptCrypto, {
    receipt: input,
    serviceCertPem: issuer.serviceCertPem,
    expected: { claim: utf8(claim) },
  });
  assert.ok(E.isLeft(r) && r.left._tag === "InvalidReceipt" && r.left.check === "signature");
  assert.match(r.left.message, /RSA is not supported/);
  assert.deepEqual(r, core);
});
