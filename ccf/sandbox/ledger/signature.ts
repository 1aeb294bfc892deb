/**
 * Signature transactions: the record the node writes to `public:ccf.internal.signatures`, the
 * signing capability that produces it, and the check of a root signature.
 *
 * A signature is ECDSA P-384 over the 32-byte Merkle root used directly as the digest (CCF's
 * "prehashed" signature), DER-encoded; receipts carry it in base64.
 */
import { X509Certificate } from "node:crypto";
import { publicKeyOf } from "../../gov/x509.ts";
import { p384 } from "@noble/curves/nist.js";
import { base64, base64urlnopad } from "@scure/base";

/** The map a signature transaction writes. */
export const SIGNATURES_MAP = "public:ccf.internal.signatures";

/** The single key of {@link SIGNATURES_MAP}: eight zero bytes, as CCF's singleton maps use. */
export const signatureKey = (): Uint8Array => new Uint8Array(8);

/**
 * The node's signing capability, injected so that tests sign with a fixture key and the node with
 * its own, wherever it keeps it.
 */
export interface NodeSigner {
  /** PEM of the node certificate, endorsed by the service certificate. */
  readonly certPem: string;
  /** The node id receipts name (CCF: hex SHA-256 of the node's public key). */
  readonly nodeId: string;
  /** DER ECDSA P-384 signature over `root`, used as the digest (not hashed again). */
  readonly sign: (root: Uint8Array) => Uint8Array;
}

/** The value of a signature transaction's write, as JSON. */
export interface SignatureRecord {
  /** Seqno of the signature transaction itself. */
  readonly seqno: number;
  /** The view the signature was made in. */
  readonly view: number;
  /** Hex root of the tree of every transaction before `seqno`. */
  readonly root: string;
  /** Base64 DER ECDSA signature of `root` by the node key. */
  readonly signature: string;
  /** PEM of the node certificate. */
  readonly cert: string;
  /** The signing node's id. */
  readonly node_id: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
const ROOT_HEX = /^[0-9a-f]{64}$/;
const VERIFY = { prehash: false, format: "der", lowS: false } as const;

/** The bytes stored under {@link signatureKey}: JSON with the fields in a fixed order. */
export const encodeSignatureRecord = (r: SignatureRecord): Uint8Array =>
  encoder.encode(JSON.stringify({
    seqno: r.seqno,
    view: r.view,
    root: r.root,
    signature: r.signature,
    cert: r.cert,
    node_id: r.node_id,
  }));

const isCount = (u: unknown): u is number => Number.isSafeInteger(u) && (u as number) >= 0;

/** Checks the shape of a parsed record; throws an `Error` saying which field is wrong. */
export const asSignatureRecord = (u: unknown): SignatureRecord => {
  const r = (typeof u === "object" && u !== null ? u : {}) as Record<string, unknown>;
  const fail = (what: string): never => {
    throw new Error(`The signature record's ${what}`);
  };
  if (!isCount(r.seqno)) fail("seqno is not a non-negative integer");
  if (!isCount(r.view)) fail("view is not a non-negative integer");
  if (typeof r.root !== "string" || !ROOT_HEX.test(r.root)) fail("root is not 64 lowercase hex");
  if (typeof r.signature !== "string") fail("signature is not a string");
  try {
    base64.decode(r.signature as string);
  } catch {
    fail("signature is not base64");
  }
  if (typeof r.cert !== "string") fail("cert is not a string");
  if (typeof r.node_id !== "string") fail("node_id is not a string");
  return {
    seqno: r.seqno as number,
    view: r.view as number,
    root: r.root as string,
    signature: r.signature as string,
    cert: r.cert as string,
    node_id: r.node_id as string,
  };
};

/** Parses the bytes of a signature write; throws an `Error` when they are not a record. */
export const decodeSignatureRecord = (value: Uint8Array): SignatureRecord => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(value));
  } catch {
    throw new Error("The signature record is not UTF-8 JSON");
  }
  return asSignatureRecord(parsed);
};

// A ledger is signed by one or a few node certificates; parsing each once keeps replay cheap.
const publicKeys = new Map<string, Uint8Array>();

const nodePublicKey = (certPem: string): Uint8Array => {
  const cached = publicKeys.get(certPem);
  if (cached) return cached;
  const jwk = publicKeyOf(certPem).export({ format: "jwk" });
  if (jwk.kty !== "EC" || jwk.crv !== "P-384" || !jwk.x || !jwk.y) {
    throw new Error("The node certificate's key is not an EC P-384 key");
  }
  const point = new Uint8Array([
    4,
    ...base64urlnopad.decode(jwk.x),
    ...base64urlnopad.decode(jwk.y),
  ]);
  if (publicKeys.size >= 16) publicKeys.clear();
  publicKeys.set(certPem, point);
  return point;
};

/**
 * Whether `signature` (DER) is the node key's prehashed ECDSA signature of `root`. Throws an
 * `Error` if the certificate cannot be parsed or holds no P-384 key.
 */
export const verifyRootSignature = (
  certPem: string,
  root: Uint8Array,
  signature: Uint8Array,
): boolean => {
  const key = nodePublicKey(certPem);
  try {
    return p384.verify(signature, root, key, VERIFY);
  } catch {
    return false;
  }
};

// Replay is synchronous and @peculiar/x509 verifies only through WebCrypto, asynchronously: the
// endorsement of a node certificate is checked with node:crypto's X509Certificate. A ledger is
// signed by a few node certificates, so each pair is checked once.
const endorsements = new Map<string, boolean>();

/**
 * Whether `certPem` was issued and signed by the key of `issuerPem` (the service certificate).
 * Validity periods are not checked: a ledger keeps signatures of certificates that have expired.
 */
export const isEndorsedBy = (certPem: string, issuerPem: string): boolean => {
  const key = `${certPem}\n${issuerPem}`;
  let endorsed = endorsements.get(key);
  if (endorsed === undefined) {
    try {
      const cert = new X509Certificate(certPem);
      const issuer = new X509Certificate(issuerPem);
      endorsed = cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
    } catch {
      endorsed = false;
    }
    if (endorsements.size >= 16) endorsements.clear();
    endorsements.set(key, endorsed);
  }
  return endorsed;
};
