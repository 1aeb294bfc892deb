/**
 * Receipt verification cost next to one bare ECDSA P-384 verification.
 * Run: deno bench -A test/bench/receipt_bench.ts
 */
import { p384 } from "@noble/curves/nist.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { utf8 } from "../../core/bytes.ts";
import { decodeReceipt, leafOf, rootOf } from "../../core/receipt/receipt.ts";
import { verifyReceipt } from "../../core/receipt/verify.ts";
import { denoReceiptCrypto } from "../../client/receiptCrypto.ts";
import { createReceiptIssuer, leafFor, mintReceipt, signRoot } from "../fixtures/receipts.ts";

const issuer = await createReceiptIssuer();
const claim = utf8("bench claim");
const proof = Array.from({ length: 20 }, (_, i) => ({
  side: i % 2 === 0 ? "left" as const : "right" as const,
  hash: sha256(utf8(`sibling ${i}`)),
}));
const receiptText = JSON.stringify(mintReceipt(issuer, leafFor(claim), proof));
const input = {
  receipt: receiptText,
  serviceCertPem: issuer.serviceCertPem,
  expected: { claim },
};

const root = sha256(utf8("root"));
const derSignature = signRoot(issuer, root);
const nodePublicKey = p384.getPublicKey(issuer.nodeSecretKey, false);
const message = new Uint8Array(utf8("one message"));
const ecdsa384 = { name: "ECDSA", hash: "SHA-384" };
const webSignature = await crypto.subtle.sign(ecdsa384, issuer.nodeKeys.privateKey, message);

Deno.bench("WebCrypto ECDSA P-384 verify (async)", { group: "p384", baseline: true }, async () => {
  if (!await crypto.subtle.verify(ecdsa384, issuer.nodeKeys.publicKey, webSignature, message)) {
    throw new Error("WebCrypto verification failed");
  }
});

Deno.bench("noble p384.verify, prehashed, DER", { group: "p384" }, () => {
  const options = { prehash: false, format: "der", lowS: false } as const;
  if (!p384.verify(derSignature, root, nodePublicKey, options)) {
    throw new Error("noble verification failed");
  }
});

Deno.bench("verifyReceipt, 20-step proof, JSON text", { group: "p384" }, () => {
  if (verifyReceipt(denoReceiptCrypto, input)._tag !== "Right") {
    throw new Error("receipt verification failed");
  }
});

Deno.bench("part: decode + leaf + 20-step root", { group: "parts" }, () => {
  const r = decodeReceipt(receiptText);
  if (r._tag === "Right") rootOf(leafOf(r.right.leafComponents), r.right.proof);
});

Deno.bench("part: endorsement (2 certificate parses + verify)", { group: "parts" }, () => {
  denoReceiptCrypto.verifyEndorsement(issuer.nodeCertPem, issuer.serviceCertPem);
});

Deno.bench("part: root signature (1 certificate parse + verify)", { group: "parts" }, () => {
  denoReceiptCrypto.verifyDigestSignature(issuer.nodeCertPem, root, derSignature);
});
