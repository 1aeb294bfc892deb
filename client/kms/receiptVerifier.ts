/**
 * Receipt verification for clients, fast enough to run on every key listing. The checks and their
 * order are the core's ({@link receiptVerification}); this runner answers them with what is fast
 * in Deno: the endorsement of a node certificate by the service certificate is checked once per
 * node certificate and remembered, and the root signature is checked with WebCrypto's native
 * ECDSA over the bytes whose SHA-256 is the root (CCF signs the root as a prehashed digest).
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { p256, p384 } from "@noble/curves/nist.js";
import { utf8 } from "../../core/bytes.ts";
import type { Either } from "../../core/either.ts";
import type { KmsError } from "../../core/errors.ts";
import {
  type CheckOutcome,
  outcomeOf,
  receiptVerification,
  type VerifiedReceipt,
} from "../../core/receipt/verify.ts";
import { denoReceiptCrypto } from "../receiptCrypto.ts";

/** Verifies receipts against one service certificate. */
export interface ReceiptVerifier {
  /** Verifies `receipt` (JSON text or object) and that it commits to `claim` (e.g. a KeyConfig hex). */
  verify(receipt: unknown, claim: string): Promise<Either<KmsError, VerifiedReceipt>>;
}

interface NodeKey {
  readonly key: CryptoKey;
  readonly curve: typeof p256 | typeof p384;
}

const curves = { "P-256": p256, "P-384": p384 } as const;
const MAX_REMEMBERED_NODES = 64;

const importNodeKey = async (certPem: string): Promise<NodeKey> => {
  const publicKey = new x509.X509Certificate(certPem).publicKey;
  const namedCurve = (publicKey.algorithm as EcKeyAlgorithm).namedCurve as keyof typeof curves;
  if (!(namedCurve in curves)) throw new Error(`node keys on ${namedCurve} are not supported`);
  const key = await crypto.subtle.importKey(
    "spki",
    publicKey.rawData,
    { name: "ECDSA", namedCurve },
    false,
    ["verify"],
  );
  return { key, curve: curves[namedCurve] };
};

/** A verifier bound to the KMS's service certificate (obtained out of band, never from the KMS). */
export const receiptVerifier = (serviceCertPem: string): ReceiptVerifier => {
  // Per node certificate: whether the service endorses it, and then its imported key.
  const nodes = new Map<string, Promise<{ endorsed: CheckOutcome; key?: NodeKey }>>();
  const node = (certPem: string) => {
    const known = nodes.get(certPem);
    if (known) return known;
    const checked = (async () => {
      const endorsed = outcomeOf(() =>
        denoReceiptCrypto.verifyEndorsement(certPem, serviceCertPem)
      );
      if (endorsed !== true) return { endorsed };
      try {
        return { endorsed, key: await importNodeKey(certPem) };
      } catch (e) {
        return { endorsed: { error: (e as Error).message } };
      }
    })();
    // A network has a handful of node certificates; a KMS that sends endless new ones must not
    // grow the memo without end.
    if (nodes.size >= MAX_REMEMBERED_NODES) nodes.clear();
    nodes.set(certPem, checked);
    return checked;
  };
  const signed = async (
    certPem: string,
    preimage: Uint8Array,
    der: Uint8Array,
  ): Promise<CheckOutcome> => {
    const { key } = await node(certPem);
    if (key === undefined) return { error: "the node certificate is not endorsed" };
    let signature: Uint8Array;
    try {
      signature = key.curve.Signature.fromBytes(der, "der").toBytes("compact");
    } catch {
      return { error: "it is not a DER ECDSA signature" };
    }
    // The root is a SHA-256 digest whatever the curve, so WebCrypto hashes the preimage with
    // SHA-256.
    return await crypto.subtle.verify(
      { name: "ECDSA", hash: "SHA-256" },
      key.key,
      new Uint8Array(signature),
      new Uint8Array(preimage),
    );
  };
  return {
    async verify(receipt, claim) {
      let v = receiptVerification({ receipt, serviceCertPem, expected: { claim: utf8(claim) } });
      while (v._tag !== "Done") {
        v = v._tag === "CheckEndorsement"
          ? v.next((await node(v.certPem)).endorsed)
          : v.next(await signed(v.certPem, v.rootPreimage, v.signature));
      }
      return v.result;
    },
  };
};
