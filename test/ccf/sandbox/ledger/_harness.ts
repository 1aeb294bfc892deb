/**
 * Shared set-up of the ledger tests: a fixture node signer, a node-like driver that commits to a
 * KvStore and records in the ledger, and a memoizing receipt crypto capability.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { type KvCommit, KvStore } from "../../../../ccf/sandbox/kv.ts";
import type { Ledger } from "../../../../ccf/sandbox/ledger/ledger.ts";
import {
  encodeSignatureRecord,
  type NodeSigner,
  signatureKey,
  SIGNATURES_MAP,
} from "../../../../ccf/sandbox/ledger/signature.ts";
import type { ReceiptCrypto } from "../../../../core/receipt/verify.ts";
import { createReceiptIssuer, type ReceiptIssuer, signRoot } from "../../../fixtures/receipts.ts";

export const encoder = new TextEncoder();
export const bytes = (s: string): Uint8Array => encoder.encode(s);

/** The fixture's service and node certificates, and a signer with the node key. */
export const fixtureNode = async (): Promise<{ issuer: ReceiptIssuer; signer: NodeSigner }> => {
  const issuer = await createReceiptIssuer();
  return {
    issuer,
    signer: {
      certPem: issuer.nodeCertPem,
      nodeId: bytesToHex(sha256(bytes(issuer.nodeCertPem))),
      sign: (root) => signRoot(issuer, root),
    },
  };
};

/** One write of a test transaction: `value` null deletes. */
export type Put = readonly [map: string, key: string, value: string | null];

/** Commits `puts` as one transaction and records it, as the node does. */
export const commit = (
  store: KvStore,
  ledger: Ledger,
  puts: readonly Put[],
  claimsDigest?: Uint8Array,
): KvCommit => {
  const tx = store.begin();
  for (const [map, key, value] of puts) {
    if (value === null) tx.delete(map, bytes(key));
    else tx.set(map, bytes(key), bytes(value));
  }
  const done = store.commit(tx)!;
  ledger.append(done, claimsDigest);
  return done;
};

/** Commits a signature transaction, as the node does; returns its seqno. */
export const sign = (store: KvStore, ledger: Ledger): number => {
  const tx = store.begin();
  tx.set(SIGNATURES_MAP, signatureKey(), encodeSignatureRecord(ledger.signatureRecord()));
  const done = store.commit(tx)!;
  ledger.append(done);
  return done.seqno;
};

/** A fresh store next to a ledger (of the same view). */
export const storeFor = (ledger: Ledger): KvStore =>
  new KvStore({ view: ledger.view, lastSeqno: ledger.size });

/**
 * `base` with both checks memoized. They are pure functions of their arguments, so a cached
 * answer is the answer: every receipt is still decoded and walked to its root by the verifier,
 * only the ECDSA check of a (root, signature) pair that was already checked is not redone.
 */
export const memoized = (base: ReceiptCrypto): ReceiptCrypto & { calls: () => number } => {
  const endorsements = new Map<string, boolean>();
  const signatures = new Map<string, boolean>();
  let calls = 0;
  return {
    calls: () => calls,
    verifyEndorsement: (cert, issuer) => {
      const key = `${cert}\n${issuer}`;
      if (!endorsements.has(key)) {
        calls++;
        endorsements.set(key, base.verifyEndorsement(cert, issuer));
      }
      return endorsements.get(key)!;
    },
    verifyDigestSignature: (cert, digest, signature) => {
      const key = `${cert}\n${bytesToHex(digest)}\n${bytesToHex(signature)}`;
      if (!signatures.has(key)) {
        calls++;
        signatures.set(key, base.verifyDigestSignature(cert, digest, signature));
      }
      return signatures.get(key)!;
    },
  };
};
