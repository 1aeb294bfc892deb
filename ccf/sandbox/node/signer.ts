/** The node's ledger signer: its P-384 key signs Merkle roots the way CCF's node key does. */
import { createPrivateKey } from "node:crypto";
import { p384 } from "@noble/curves/nist.js";
import { base64urlnopad } from "@scure/base";
import type { NodeSigner } from "../ledger/signature.ts";

/**
 * A {@link NodeSigner} over the node key: DER ECDSA with the 32-byte root used as the digest
 * (CCF signs roots "prehashed"), so receipts verify as CCF's do.
 */
export function nodeSigner(nodeKeyPem: string, nodeCertPem: string, nodeId: string): NodeSigner {
  const jwk = createPrivateKey(nodeKeyPem).export({ format: "jwk" });
  if (jwk.crv !== "P-384" || typeof jwk.d !== "string") {
    throw new Error("the node key is not an EC P-384 private key");
  }
  const secret = base64urlnopad.decode(jwk.d);
  return {
    certPem: nodeCertPem,
    nodeId,
    sign: (root) => p384.sign(root, secret, { prehash: false, format: "der" }),
  };
}
