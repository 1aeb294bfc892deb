/**
 * Receipt verification for clients, fast enough to run on every key listing: the endorsement of a
 * node certificate by the service certificate is checked once per node certificate and
 * remembered, and the root signature is checked with WebCrypto's native ECDSA over the bytes whose
 * SHA-256 is the root (CCF signs the root as a prehashed digest). Fails closed, in the same order
 * as the core verifier: format, endorsement, signature, claims digest.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { p256, p384 } from "@noble/curves/nist.js";
import * as E from "fp-ts/lib/Either.js";
import { utf8 } from "../../core/bytes.ts";
import type { Either } from "../../core/either.ts";
import { invalidReceipt, type KmsError } from "../../core/errors.ts";
import { decodeReceipt, leafOf, rootOf, rootPreimage } from "../../core/receipt/receipt.ts";
import { checkClaims, type VerifiedReceipt } from "../../core/receipt/verify.ts";
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

const fail = (check: "endorsement" | "signature", message: string) =>
  E.left(invalidReceipt(check, message));

/** A verifier bound to the KMS's service certificate (obtained out of band, never from the KMS). */
export const receiptVerifier = (serviceCertPem: string): ReceiptVerifier => {
  const nodeKeys = new Map<string, Promise<NodeKey | string>>();
  const endorsedKey = (certPem: string): Promise<NodeKey | string> => {
    const known = nodeKeys.get(certPem);
    if (known) return known;
    const checked = (async () => {
      try {
        return denoReceiptCrypto.verifyEndorsement(certPem, serviceCertPem)
          ? await importNodeKey(certPem)
          : "the receipt's node certificate is not endorsed by the service certificate";
      } catch (e) {
        return `the receipt's node certificate cannot be checked: ${(e as Error).message}`;
      }
    })();
    // A network has a handful of node certificates; a KMS that sends endless new ones must not
    // grow the memo without end.
    if (nodeKeys.size >= MAX_REMEMBERED_NODES) nodeKeys.clear();
    nodeKeys.set(certPem, checked);
    return checked;
  };
  return {
    async verify(input, claim) {
      const decoded = decodeReceipt(input);
      if (E.isLeft(decoded)) return decoded;
      const receipt = decoded.right;
      const node = await endorsedKey(receipt.cert);
      if (typeof node === "string") return fail("endorsement", node);
      let signature: Uint8Array;
      try {
        signature = node.curve.Signature.fromBytes(receipt.signature, "der").toBytes("compact");
      } catch {
        return fail("signature", "the receipt's signature is not a DER ECDSA signature");
      }
      // The root is a SHA-256 digest whatever the curve, so WebCrypto hashes the preimage with SHA-256.
      const ok = await crypto.subtle.verify(
        { name: "ECDSA", hash: "SHA-256" },
        node.key,
        new Uint8Array(signature),
        new Uint8Array(rootPreimage(receipt.leafComponents, receipt.proof)),
      );
      if (!ok) {
        return fail("signature", "the receipt's signature does not verify over its Merkle root");
      }
      return E.map((claimsDigest: Uint8Array) => {
        const leaf = leafOf(receipt.leafComponents);
        return { receipt, leaf, root: rootOf(leaf, receipt.proof), claimsDigest };
      })(checkClaims(receipt, { claim: utf8(claim) }));
    },
  };
};
