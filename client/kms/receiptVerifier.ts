/**
 * Receipt verification for clients, fast enough to run on every key listing. The checks, their
 * order and every decision are the core's ({@link receiptVerification}); this runner only answers
 * its crypto questions with what is fast in Deno: the endorsement of a node certificate by the
 * service certificate is checked once per node certificate and remembered, and the root signature
 * is checked with WebCrypto's native ECDSA over the bytes whose SHA-256 is the root (CCF signs the
 * root as a prehashed digest). What WebCrypto cannot take (a key it cannot import, a signature
 * that is not DER) the synchronous crypto answers, the core's `verifyReceipt` runner's, so that
 * both runners reach the same result with the same reason.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { p256, p384, p521 } from "@noble/curves/nist.js";
import { utf8 } from "../../core/bytes.ts";
import type { Either } from "../../core/either.ts";
import type { KmsError } from "../../core/errors.ts";
import {
  type CheckOutcome,
  outcomeOf,
  type ReceiptVerification,
  receiptVerification,
  type VerifiedReceipt,
} from "../../core/receipt/verify.ts";
import { denoReceiptCrypto } from "../receiptCrypto.ts";

/** Verifies receipts against one service certificate. */
export interface ReceiptVerifier {
  /** Verifies `receipt` (JSON text or object) and that it commits to `claim` (e.g. a KeyConfig hex). */
  verify(receipt: unknown, claim: string): Promise<Either<KmsError, VerifiedReceipt>>;
}

type SignatureCheck = Extract<ReceiptVerification, { _tag: "CheckSignature" }>;

/** A node certificate's key, imported for WebCrypto, with the curve that reads its signatures. */
interface NodeKey {
  readonly key: CryptoKey;
  readonly curve: typeof p256 | typeof p384 | typeof p521;
}

/** What is remembered of a node certificate. */
interface Node {
  readonly endorsed: CheckOutcome;
  /** Absent when the node is not endorsed or WebCrypto cannot take its key. */
  readonly key: Promise<NodeKey | undefined>;
}

const curves = { "P-256": p256, "P-384": p384, "P-521": p521 } as const;
const MAX_REMEMBERED_NODES = 64;

const importNodeKey = async (certPem: string): Promise<NodeKey | undefined> => {
  const publicKey = new x509.X509Certificate(certPem).publicKey;
  const namedCurve = (publicKey.algorithm as Partial<EcKeyAlgorithm>).namedCurve;
  if (publicKey.algorithm.name !== "ECDSA" || !(namedCurve && namedCurve in curves)) {
    return undefined;
  }
  const key = await crypto.subtle.importKey(
    "spki",
    publicKey.rawData,
    { name: "ECDSA", namedCurve },
    false,
    ["verify"],
  );
  return { key, curve: curves[namedCurve as keyof typeof curves] };
};

/** The signature as WebCrypto takes it (r‖s), or undefined when it is not DER on the key's curve. */
const compactSignature = (
  native: NodeKey,
  der: Uint8Array,
): Uint8Array<ArrayBuffer> | undefined => {
  try {
    return new Uint8Array(native.curve.Signature.fromBytes(der, "der").toBytes("compact"));
  } catch {
    return undefined;
  }
};

/** A verifier bound to the KMS's service certificate (obtained out of band, never from the KMS). */
export const receiptVerifier = (serviceCertPem: string): ReceiptVerifier => {
  const nodes = new Map<string, Node>();
  const node = (certPem: string): Node => {
    const known = nodes.get(certPem);
    if (known) return known;
    const endorsed = outcomeOf(() => denoReceiptCrypto.verifyEndorsement(certPem, serviceCertPem));
    const key = endorsed === true
      ? importNodeKey(certPem).catch(() => undefined)
      : Promise.resolve(undefined);
    // A network has a handful of node certificates; a KMS that sends endless new ones must not
    // grow the memo without end.
    if (nodes.size >= MAX_REMEMBERED_NODES) nodes.clear();
    nodes.set(certPem, { endorsed, key });
    return { endorsed, key };
  };

  const signed = async (step: SignatureCheck): Promise<CheckOutcome> => {
    const native = await node(step.certPem).key;
    const signature = native && compactSignature(native, step.signature);
    const bySyncCrypto = () =>
      outcomeOf(() =>
        denoReceiptCrypto.verifyDigestSignature(step.certPem, step.root, step.signature)
      );
    if (native === undefined || signature === undefined) return bySyncCrypto();
    // The root is a SHA-256 digest whatever the curve, so WebCrypto hashes the preimage with
    // SHA-256.
    return await crypto.subtle.verify(
      { name: "ECDSA", hash: "SHA-256" },
      native.key,
      signature,
      new Uint8Array(step.rootPreimage),
    ).catch(bySyncCrypto);
  };

  return {
    async verify(receipt, claim) {
      let v = receiptVerification({ receipt, serviceCertPem, expected: { claim: utf8(claim) } });
      while (v._tag !== "Done") {
        v = v._tag === "CheckEndorsement"
          ? v.next(node(v.certPem).endorsed)
          : v.next(await signed(v));
      }
      return v.result;
    },
  };
};
