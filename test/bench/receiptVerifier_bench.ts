/**
 * `listKeys` verification cost of one key (a receipt with a 20-step proof and its claims digest,
 * node certificate endorsement remembered) against one bare ECDSA P-384 verify in the same run.
 */
import { utf8 } from "../../core/bytes.ts";
import { receiptVerifier } from "../../client/kms/receiptVerifier.ts";
import { createReceiptIssuer, leafFor, mintReceipt } from "../fixtures/receipts.ts";

const claim = "01001104" + "cd".repeat(96) + "000400020002";
const issuer = await createReceiptIssuer();
const proof = Array.from({ length: 20 }, (_, i) => ({
  side: i % 2 === 0 ? "left" as const : "right" as const,
  hash: new Uint8Array(32).fill(i),
}));
const receipt = JSON.stringify(mintReceipt(issuer, leafFor(utf8(claim)), proof));
const verifier = receiptVerifier(issuer.serviceCertPem);
await verifier.verify(receipt, claim); // remember the endorsement, as a long-lived client does

const alg = { name: "ECDSA", namedCurve: "P-384" };
const keys = await crypto.subtle.generateKey(alg, false, ["sign", "verify"]) as CryptoKeyPair;
const message = new Uint8Array(64).fill(7);
const signature = await crypto.subtle.sign(
  { name: "ECDSA", hash: "SHA-384" },
  keys.privateKey,
  message,
);

Deno.bench(
  "bare ECDSA P-384 verify (WebCrypto)",
  { group: "listKeys", baseline: true },
  async () => {
    await crypto.subtle.verify(
      { name: "ECDSA", hash: "SHA-384" },
      keys.publicKey,
      signature,
      message,
    );
  },
);

Deno.bench("verify one listed key's receipt (20-step proof)", { group: "listKeys" }, async () => {
  await verifier.verify(receipt, claim);
});
