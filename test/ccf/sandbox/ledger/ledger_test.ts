import assert from "node:assert/strict";
import * as E from "fp-ts/lib/Either.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { base64 } from "@scure/base";
import { KvStore } from "../../../../ccf/sandbox/kv.ts";
import {
  Ledger,
  type LedgerReceipt,
  type TxReceipt,
} from "../../../../ccf/sandbox/ledger/ledger.ts";
import {
  encodeSignatureRecord,
  signatureKey,
  SIGNATURES_MAP,
} from "../../../../ccf/sandbox/ledger/signature.ts";
import { decodeReceipt, leafOf, rootOf } from "../../../../core/receipt/receipt.ts";
import { verifyReceipt } from "../../../../core/receipt/verify.ts";
import { denoReceiptCrypto } from "../../../../client/receiptCrypto.ts";
import { createReceiptIssuer, signRoot } from "../../../fixtures/receipts.ts";
import { bytes, commit, fixtureNode, memoized, sign, storeFor } from "./_harness.ts";

const { issuer, signer } = await fixtureNode();
const SERVICE = issuer.serviceCertPem;

const isTx = (r: LedgerReceipt | null): r is TxReceipt =>
  r !== null && r.is_signature_transaction === false;

const checkOf = (e: E.Either<{ _tag: string; check?: string }, unknown>) =>
  E.isLeft(e) ? e.left.check : "accepted";

Deno.test("ledger: 10 000 transactions, a signature every ~100: every receipt verifies", () => {
  const crypto = memoized(denoReceiptCrypto);
  const store = new KvStore();
  const ledger = Ledger.inMemory({ signer });
  const claims = new Map<number, Uint8Array>();
  const signatures: number[] = [];
  let applied = 0;
  let nextSignature = 100;
  while (applied < 10_000) {
    applied++;
    const claim = applied % 7 === 0 ? bytes(`key config ${applied}`) : undefined;
    const { seqno } = commit(
      store,
      ledger,
      [
        ["public:kms.keys", `k${applied % 50}`, `public ${applied}`],
        ["kms.private", `p${applied % 13}`, `private ${applied}`],
      ],
      claim && sha256(claim),
    );
    if (claim) claims.set(seqno, claim);
    assert.equal(ledger.receiptFor(seqno), null);
    assert.equal(ledger.txStatus(seqno), "Pending");
    if (--nextSignature === 0) {
      const covered = seqno;
      signatures.push(sign(store, ledger));
      assert.notEqual(ledger.receiptFor(covered), null);
      assert.equal(ledger.txStatus(covered), "Committed");
      nextSignature = 90 + (applied * 31) % 21;
    }
  }
  signatures.push(sign(store, ledger));
  assert.equal(ledger.size, 10_000 + signatures.length);
  assert.equal(ledger.pendingSinceSignature, 0);

  let withClaims = 0;
  for (let seqno = 1; seqno <= ledger.size; seqno++) {
    const receipt = ledger.receiptFor(seqno);
    const covering = signatures.find((s) => s >= seqno)!;
    if (!isTx(receipt)) {
      assert.equal(covering, seqno, `seqno ${seqno} is a signature transaction`);
      assert.ok(receipt?.is_signature_transaction);
      assert.equal(receipt.root_hex, bytesToHex(ledger.merkleRoot(seqno - 1)));
      assert.ok(crypto.verifyDigestSignature(
        receipt.cert,
        hexToBytes(receipt.root_hex),
        base64.decode(receipt.signature),
      ));
      continue;
    }
    const text = JSON.stringify(receipt);
    const claim = claims.get(seqno);
    if (claim) {
      withClaims++;
      const verified = verifyReceipt(crypto, {
        receipt: text,
        serviceCertPem: SERVICE,
        expected: { claim },
      });
      assert.ok(E.isRight(verified), `seqno ${seqno}: ${JSON.stringify(verified)}`);
      // The first signature after the transaction, not any later one.
      assert.deepEqual(verified.right.root, ledger.merkleRoot(covering - 1));
    } else {
      // The core verifier insists on a claims digest; everything before that check must pass.
      const verified = verifyReceipt(crypto, {
        receipt: text,
        serviceCertPem: SERVICE,
        expected: { claim: bytes("none") },
      });
      assert.equal(checkOf(verified), "claims_digest", `seqno ${seqno}`);
      const decoded = decodeReceipt(text);
      assert.ok(E.isRight(decoded));
      const root = rootOf(leafOf(decoded.right.leafComponents), decoded.right.proof);
      assert.deepEqual(root, ledger.merkleRoot(covering - 1));
      assert.ok(crypto.verifyDigestSignature(receipt.cert, root, decoded.right.signature));
    }
  }
  assert.equal(withClaims, claims.size);
  // One endorsement and one ECDSA check per signature: the memo did its job.
  assert.equal(crypto.calls(), 1 + signatures.length);
});

Deno.test("ledger: receipts are null until a signature covers them, then use the first one", () => {
  const store = new KvStore();
  const ledger = Ledger.inMemory({ signer });
  assert.equal(ledger.receiptFor(1), null);
  assert.equal(ledger.txStatus(1), "Unknown");
  commit(store, ledger, [["public:a", "x", "1"]]);
  commit(store, ledger, [["public:a", "x", "2"]]);
  assert.equal(ledger.pendingSinceSignature, 2);
  assert.equal(ledger.receiptFor(1), null);
  const first = sign(store, ledger);
  assert.equal(first, 3);
  assert.equal(ledger.pendingSinceSignature, 0);
  assert.equal(ledger.lastSignedSeqno, 3);
  commit(store, ledger, [["public:a", "x", "3"]]);
  assert.equal(ledger.receiptFor(4), null);
  assert.equal(ledger.txStatus(4), "Pending");
  assert.equal(ledger.txStatus(5), "Unknown");
  const second = sign(store, ledger);

  const r1 = ledger.receiptFor(1);
  const r4 = ledger.receiptFor(4);
  assert.ok(isTx(r1) && isTx(r4));
  const latest = JSON.parse(new TextDecoder().decode(store.get(SIGNATURES_MAP, signatureKey())));
  assert.equal(latest.seqno, second);
  assert.equal(r1.signature, ledger.receiptFor(first)?.signature);
  assert.equal(r4.signature, ledger.receiptFor(second)?.signature);
  assert.notEqual(r1.signature, r4.signature);
  assert.equal(r1.leaf_components.commit_evidence.split(":")[1], "2.1");
  assert.match(r1.leaf_components.commit_evidence, /^ce:2\.1:[0-9a-f]{64}$/);
  assert.equal(r1.leaf_components.claims_digest, undefined);
  assert.equal(r1.node_id, signer.nodeId);
  assert.equal(r1.cert, signer.certPem);
  assert.deepEqual(Object.keys(r1).sort(), [
    "cert",
    "is_signature_transaction",
    "leaf_components",
    "node_id",
    "proof",
    "signature",
  ]);
  const sig = ledger.receiptFor(first);
  assert.ok(sig?.is_signature_transaction);
  assert.deepEqual(Object.keys(sig).sort(), [
    "cert",
    "is_signature_transaction",
    "node_id",
    "root_hex",
    "signature",
  ]);
  assert.equal(ledger.txStatus(4, 2), "Committed");
  assert.equal(ledger.txStatus(4, 3), "Invalid");
  assert.equal(ledger.receiptFor(0), null);
  assert.equal(ledger.receiptFor(1.5), null);
  assert.equal(ledger.receiptFor(99), null);
});

Deno.test("ledger: a flipped byte anywhere in a receipt is rejected by the core verifier", () => {
  const store = new KvStore();
  const ledger = Ledger.inMemory({ signer });
  const claim = bytes("the claim");
  for (let i = 0; i < 37; i++) {
    commit(store, ledger, [["public:t", `k${i}`, `v${i}`]], i === 20 ? sha256(claim) : undefined);
  }
  sign(store, ledger);
  const receipt = ledger.receiptFor(21);
  assert.ok(isTx(receipt));
  const verify = (r: unknown) =>
    checkOf(
      verifyReceipt(denoReceiptCrypto, {
        receipt: r,
        serviceCertPem: SERVICE,
        expected: { claim },
      }),
    );
  assert.equal(verify(receipt), "accepted");

  const flipHex = (hex: string, at: number) =>
    hex.slice(0, at) + ((parseInt(hex[at], 16) ^ 1).toString(16)) + hex.slice(at + 1);
  const clone = (): TxReceipt => structuredClone(receipt);
  const lc = receipt.leaf_components;

  const cases: Array<[string, TxReceipt]> = [
    ["write_set_digest", {
      ...clone(),
      leaf_components: { ...lc, write_set_digest: flipHex(lc.write_set_digest, 7) },
    }],
    ["commit_evidence", {
      ...clone(),
      leaf_components: { ...lc, commit_evidence: flipHex(lc.commit_evidence, 30) },
    }],
    ["claims_digest", {
      ...clone(),
      leaf_components: { ...lc, claims_digest: flipHex(lc.claims_digest!, 63) },
    }],
  ];
  receipt.proof.forEach((step, i) => {
    const r = clone();
    r.proof[i] = "left" in step
      ? { left: flipHex(step.left, 0) }
      : { right: flipHex(step.right, 0) };
    cases.push([`proof[${i}]`, r]);
    const swapped = clone();
    swapped.proof[i] = "left" in step ? { right: step.left } : { left: step.right };
    cases.push([`side of proof[${i}]`, swapped]);
  });
  const der = base64.decode(receipt.signature);
  for (const at of [der.length - 1, der.length - 20]) {
    const bad = der.slice();
    bad[at] ^= 0x01;
    cases.push([`signature byte ${at}`, { ...clone(), signature: base64.encode(bad) }]);
  }
  cases.push(["another transaction's signature", {
    ...clone(),
    signature: base64.encode(signRoot(issuer, ledger.merkleRoot(30))),
  }]);
  for (const [what, tampered] of cases) assert.equal(verify(tampered), "signature", what);
});

Deno.test("ledger: signature records sign the current root with a working key", async () => {
  const store = new KvStore();
  const ledger = Ledger.inMemory({ signer });
  assert.throws(() => ledger.signatureRecord(), /empty/);
  commit(store, ledger, [["public:a", "x", "1"]]);
  const record = ledger.signatureRecord();
  assert.equal(record.seqno, 2);
  assert.equal(record.view, 2);
  assert.equal(record.root, bytesToHex(ledger.merkleRoot()));
  assert.equal(record.cert, signer.certPem);

  // A record over an older root is refused, and so is one with a claims digest.
  commit(store, ledger, [["public:a", "x", "2"]]);
  const stale = store.begin();
  stale.set(SIGNATURES_MAP, signatureKey(), encodeSignatureRecord({ ...record, seqno: 3 }));
  assert.throws(() => ledger.append(store.commit(stale)!), /does not sign the Merkle root/);

  const other = new KvStore();
  const fresh = Ledger.inMemory({ signer });
  commit(other, fresh, [["public:a", "x", "1"]]);
  const tx = other.begin();
  tx.set(SIGNATURES_MAP, signatureKey(), encodeSignatureRecord(fresh.signatureRecord()));
  assert.throws(() => fresh.append(other.commit(tx)!, sha256(bytes("c"))), /claims digest/);

  // A signer whose key does not match its certificate fails before anything is written.
  const stranger = await createReceiptIssuer();
  const wrong = Ledger.inMemory({
    signer: { ...signer, sign: (root) => signRoot(stranger, root) },
  });
  commit(new KvStore(), wrong, [["public:a", "x", "1"]]);
  assert.throws(() => wrong.signatureRecord(), /does not verify/);
});

Deno.test("ledger: appends must follow the last seqno and carry 32-byte claims digests", () => {
  const store = new KvStore();
  const ledger = Ledger.inMemory({ signer });
  const tx = store.begin();
  tx.set("public:a", bytes("x"), bytes("1"));
  const first = store.commit(tx)!;
  assert.throws(() => ledger.append({ ...first, seqno: 2 }), /expects seqno 1/);
  assert.throws(() => ledger.append(first, new Uint8Array(31)), RangeError);
  ledger.append(first);
  assert.throws(() => ledger.append(first), /expects seqno 2/);
  assert.throws(() => ledger.append({ ...first, seqno: 2, view: 1 }), /older/);
});

Deno.test("ledger: commit evidence depends on the secret and the seqno only", () => {
  const secret = new Uint8Array(32).fill(7);
  const evidence = (s: Uint8Array) => {
    const store = new KvStore();
    const ledger = Ledger.inMemory({ signer, secret: s });
    commit(store, ledger, [["public:a", "x", "1"]]);
    commit(store, ledger, [["public:a", "y", "2"]]);
    sign(store, ledger);
    return [1, 2].map((n) => (ledger.receiptFor(n) as TxReceipt).leaf_components.commit_evidence);
  };
  const [a1, a2] = evidence(secret);
  const [b1] = evidence(secret);
  const [c1] = evidence(new Uint8Array(32).fill(8));
  assert.equal(a1, b1);
  assert.notEqual(a1, a2);
  assert.notEqual(a1, c1);
});

Deno.test("ledger: with commits held, a signature commits only once acknowledged", () => {
  const store = new KvStore();
  const ledger = Ledger.inMemory({ signer });
  commit(store, ledger, [["public:a", "x", "1"]]);
  assert.equal(sign(store, ledger), 2);
  assert.equal(ledger.lastSignedSeqno, 2);
  // What the network knows to be committed is less than this node signed: the commit goes back.
  ledger.holdCommits(1);
  assert.equal(ledger.lastSignedSeqno, 0);
  assert.equal(ledger.txStatus(1), "Pending");
  assert.equal(ledger.receiptFor(1), null);
  commit(store, ledger, [["public:a", "x", "2"]]);
  assert.equal(sign(store, ledger), 4);
  assert.equal(ledger.lastSignatureSeqno, 4);
  assert.equal(ledger.lastSignedSeqno, 0, "a signature alone commits nothing");
  ledger.acknowledge(3);
  assert.equal(ledger.lastSignedSeqno, 2, "up to the last signature acknowledged");
  assert.equal(ledger.txStatus(1), "Committed");
  assert.ok(ledger.receiptFor(1));
  assert.equal(ledger.txStatus(3), "Pending");
  ledger.acknowledge(2);
  assert.equal(ledger.lastSignedSeqno, 2, "never goes back");
  ledger.acknowledge(99);
  assert.equal(ledger.lastSignedSeqno, 4);
  assert.ok(ledger.receiptFor(3));
  assert.equal(ledger.viewOf(3), 2);
  assert.equal(ledger.viewOf(5), null);
});

Deno.test("ledger: after a new view, ids of the old view that did not survive read Invalid", () => {
  const ledger = Ledger.inMemory({ signer });
  let store = storeFor(ledger);
  for (let i = 1; i <= 3; i++) commit(store, ledger, [["public:a", `${i}`, "x"]]);
  sign(store, ledger); // 2.4 commits 2.1..2.3
  commit(store, ledger, [["public:a", "5", "lost"]]); // 2.5, never signed
  assert.equal(ledger.txStatus(5, 2), "Pending");
  assert.equal(ledger.txStatus(6, 2), "Unknown");

  // What a restart does: the unsigned tail is gone and the writer begins a view after the last.
  const restarted = Ledger.inMemory({ signer });
  store = storeFor(restarted);
  for (let i = 1; i <= 3; i++) commit(store, restarted, [["public:a", `${i}`, "x"]]);
  sign(store, restarted);
  restarted.beginView();
  assert.equal(restarted.view, 3);
  store = new KvStore({ view: restarted.view, lastSeqno: restarted.size });
  assert.equal(restarted.txStatus(5, 2), "Unknown", "before the new view commits anything");
  commit(store, restarted, [["public:a", "5", "new"]]); // 3.5
  assert.equal(restarted.txStatus(5, 2), "Unknown", "3.5 could still be lost");
  sign(store, restarted); // 3.6 commits the new view
  assert.equal(restarted.txStatus(5, 2), "Invalid", "another view's transaction holds seqno 5");
  assert.equal(restarted.txStatus(7, 2), "Invalid", "view 2 can no longer reach seqno 7");
  assert.equal(restarted.txStatus(7, 3), "Unknown", "view 3 can");
  assert.equal(restarted.txStatus(5, 3), "Committed");
  assert.equal(restarted.txStatus(2, 2), "Committed", "the old view's committed ids stay");
  assert.equal(restarted.txStatus(5), "Committed", "without a view: the local one");
  restarted.beginView(7);
  assert.equal(restarted.view, 7, "a failover's view, when later");
});
