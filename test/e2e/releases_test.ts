/**
 * Key releases on the ledger of a real sandbox: a successful release writes a public record whose
 * text its own receipt binds (verified against the service certificate, as an auditor would), a
 * refused token writes nothing, and `/releases` pages through the records.
 */
import assert from "node:assert/strict";
import * as E from "fp-ts/lib/Either.js";
import { denoReceiptCrypto } from "../../client/receiptCrypto.ts";
import { utf8 } from "../../core/bytes.ts";
import { verifyReceipt } from "../../core/receipt/verify.ts";
import { assertError, poll, refresh, startKms } from "./_harness.ts";

Deno.test("e2e: every key release is on the ledger with its own receipt; refusals are not", async () => {
  const kms = await startKms({ trustIssuer: true, releasePolicy: true });
  try {
    const key = await refresh(kms);
    const released = await poll(
      "a key released",
      async () => (await kms.releaseKey(await kms.token())).reply,
      (r) => r.status !== 202,
    );
    assert.equal(released.status, 200, released.text);
    assert.equal(released.body.release, 0);
    assert.equal(released.body.kid, key.keyId);
    assert.ok(released.headers.get("x-ms-ccf-transaction-id"), "the release's transaction id");

    const refused = await kms.releaseKey(await kms.token("?x-ms-azurevm-osversion-major=20"));
    assertError(refused.reply, 403, "PolicyDenied");
    const second = (await kms.releaseKey(await kms.token())).reply;
    assert.equal(second.body.release, 1, "the refusal took no number");

    const listed = await poll(
      "both releases with their receipts",
      () => kms.call("GET", "/app/releases"),
      (r) => r.status === 200 && r.body.releases.every((x: { receipt: unknown }) => x.receipt),
    );
    assert.equal(listed.body.total, 2);
    const [first] = listed.body.releases;
    const record = JSON.parse(first.record);
    assert.equal(record.release, 0);
    assert.equal(record.kid, key.keyId);
    assert.equal(record.keyIndex, key.index);
    assert.equal(record.policyVersion, 1);
    assert.equal(first.record.includes("eyJ"), false, "no token in the record");
    // The auditor's check: the receipt is the service's, and its claims digest is the record's.
    const verified = verifyReceipt(denoReceiptCrypto, {
      receipt: first.receipt,
      serviceCertPem: kms.serviceCertPem,
      expected: { claim: utf8(first.record) },
    });
    if (E.isLeft(verified)) assert.fail(verified.left.message);
    const tampered = verifyReceipt(denoReceiptCrypto, {
      receipt: first.receipt,
      serviceCertPem: kms.serviceCertPem,
      expected: { claim: utf8(first.record.replace('"release":0', '"release":9')) },
    });
    assert.ok(E.isLeft(tampered) && tampered.left._tag === "InvalidReceipt");

    const paged = await kms.call("GET", "/app/releases?from=1&limit=1");
    assert.deepEqual(
      paged.body.releases.map((x: { record: string }) => JSON.parse(x.record).release),
      [1],
    );
    assertError(await kms.call("GET", "/app/releases?limit=101"), 400, "InvalidInput");
    await kms.assertLogsFreeOfSecrets();
  } finally {
    await kms.close();
  }
});
