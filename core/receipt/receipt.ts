/**
 * CCF's JSON transaction receipt: its codec, and the Merkle leaf and root it commits to.
 *
 * The codec decodes the wire form once into bytes (hashes and the DER signature), bounds every
 * string and the proof length so that a hostile receipt cannot make verification expensive, and
 * tolerates fields this KMS does not use (`service_endorsements`, ...). The hashing follows CCF's
 * `entry_leaf` and `python/src/ccf/receipt.py` (CCF's documentation, Audit: receipts).
 */
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import { sha256 } from "@noble/hashes/sha2.js";
import { hexToBytes } from "@noble/hashes/utils.js";
import { base64 } from "@scure/base";
import { concat, toHex, utf8 } from "../bytes.ts";
import { invalidReceipt, type KmsError } from "../errors.ts";

/** Longest proof accepted: a CCF ledger would need 2^64 transactions to exceed it. */
export const MAX_PROOF_LENGTH = 64;

/** Longest receipt JSON text accepted before parsing. */
export const MAX_RECEIPT_JSON_LENGTH = 64 * 1024;

/** The three inputs of a transaction's Merkle leaf. */
export interface LeafComponents {
  /** SHA-256 of the transaction's write set (32 bytes). */
  readonly writeSetDigest: Uint8Array;
  /** CCF's commit evidence, `ce:<view>.<seqno>:<hex>`. */
  readonly commitEvidence: string;
  /** The digest the application set with `ccf.rpc.setClaimsDigest` (32 bytes), if any. */
  readonly claimsDigest?: Uint8Array;
}

/** One step of a Merkle proof: the sibling hash and the side it sits on. */
export interface ProofStep {
  /** Where the sibling goes: `left` hashes `hash ‖ current`, `right` hashes `current ‖ hash`. */
  readonly side: "left" | "right";
  /** The sibling's SHA-256 hash (32 bytes). */
  readonly hash: Uint8Array;
}

/** A decoded receipt of a (non-signature) transaction. */
export interface Receipt {
  /** DER-encoded ECDSA signature of the Merkle root by the node key. */
  readonly signature: Uint8Array;
  /** PEM of the node certificate whose key signed the root. */
  readonly cert: string;
  /** The signing node's id (hex), as CCF reports it; kept as given, not used to verify. */
  readonly nodeId?: string;
  /** CCF's flag for the receipt of a signature transaction; kept as given, not used to verify. */
  readonly isSignatureTransaction?: boolean;
  /** What the transaction's Merkle leaf is computed from. */
  readonly leafComponents: LeafComponents;
  /** The path from the leaf to the signed root, leaf first; at most {@link MAX_PROOF_LENGTH}. */
  readonly proof: readonly ProofStep[];
}

/** The wire form of a proof step. */
export type ProofStepJson = { readonly left: string } | {
  readonly right: string;
};

/** The wire form of a receipt, as CCF's JavaScript API and REST endpoints produce it. */
export interface ReceiptJson {
  readonly signature: string;
  readonly cert: string;
  readonly node_id?: string;
  readonly is_signature_transaction?: boolean;
  readonly leaf_components: {
    readonly write_set_digest: string;
    readonly commit_evidence: string;
    readonly claims_digest?: string;
  };
  readonly proof: readonly ProofStepJson[];
}

const boundedString = (name: string, max: number, pattern?: RegExp) => {
  const is = (u: unknown): u is string =>
    typeof u === "string" && u.length <= max && (pattern?.test(u) ?? true);
  return new t.Type<string, string, unknown>(
    name,
    is,
    (u, c) => is(u) ? t.success(u) : t.failure(u, c, `expected ${name}`),
    (s) => s,
  );
};

const HASH_HEX = /^[0-9a-fA-F]{64}$/;

const Hash32 = new t.Type<Uint8Array, string, unknown>(
  "Hash32",
  (u): u is Uint8Array => u instanceof Uint8Array && u.length === 32,
  (u, c) =>
    typeof u === "string" && HASH_HEX.test(u)
      ? t.success(hexToBytes(u))
      : t.failure(u, c, "expected 64 hex digits (a SHA-256 hash)"),
  toHex,
);

// DER ECDSA signatures stay below 140 bytes even for P-521; 256 base64 characters hold 192.
const DerSignature = new t.Type<Uint8Array, string, unknown>(
  "DerSignature",
  (u): u is Uint8Array => u instanceof Uint8Array && u.length <= 192,
  (u, c) => {
    const fail = () => t.failure<Uint8Array>(u, c, "expected base64 of a DER signature");
    if (typeof u !== "string" || u.length > 256) return fail();
    try {
      return t.success(base64.decode(u));
    } catch {
      return fail();
    }
  },
  (b) => base64.encode(b),
);

// A lone surrogate has no UTF-8 form, so the leaf could not be computed from it.
const WELL_FORMED = /^(?:[^\ud800-\udfff]|[\ud800-\udbff][\udc00-\udfff])*$/;

const CommitEvidence = boundedString(
  "commit evidence (well-formed text of at most 1024 characters)",
  1024,
  WELL_FORMED,
);

const has = (o: object, key: string): boolean => Object.prototype.hasOwnProperty.call(o, key);

const ProofStepC = new t.Type<ProofStep, ProofStepJson, unknown>(
  "ProofStep",
  (u): u is ProofStep =>
    typeof u === "object" && u !== null &&
    ((u as ProofStep).side === "left" || (u as ProofStep).side === "right") &&
    Hash32.is((u as ProofStep).hash),
  (u, c) => {
    if (
      typeof u !== "object" || u === null || has(u, "left") === has(u, "right")
    ) {
      return t.failure(
        u,
        c,
        "a proof step must have exactly one of left or right",
      );
    }
    const side = has(u, "left") ? "left" : "right";
    const hash = Hash32.validate(
      (u as Record<string, unknown>)[side],
      t.appendContext(c, side, Hash32),
    );
    return E.map((h: Uint8Array): ProofStep => ({ side, hash: h }))(hash);
  },
  (s) => s.side === "left" ? { left: toHex(s.hash) } : { right: toHex(s.hash) },
);

// The length is checked before any element, so a huge array costs nothing.
const Proof = new t.Type<
  readonly ProofStep[],
  readonly ProofStepJson[],
  unknown
>(
  "Proof",
  (u): u is readonly ProofStep[] => Array.isArray(u) && u.every(ProofStepC.is),
  (u, c) =>
    Array.isArray(u) && u.length <= MAX_PROOF_LENGTH
      ? t.array(ProofStepC).validate(u, c)
      : t.failure(
        u,
        c,
        `expected an array of at most ${MAX_PROOF_LENGTH} proof steps`,
      ),
  (p) => p.map(ProofStepC.encode),
);

const Wire = t.intersection([
  t.type({
    signature: DerSignature,
    cert: boundedString(
      "node certificate PEM of at most 16384 characters",
      16384,
    ),
    leaf_components: t.intersection([
      t.type(
        { write_set_digest: Hash32, commit_evidence: CommitEvidence },
        "an object with write_set_digest and commit_evidence",
      ),
      t.partial({ claims_digest: Hash32 }),
    ]),
    proof: Proof,
  }, "a JSON object with signature, cert, leaf_components and proof"),
  t.partial({
    node_id: boundedString("node id (hex)", 256, /^[0-9a-fA-F]*$/),
    is_signature_transaction: t.boolean,
  }),
]);

type WireReceipt = t.TypeOf<typeof Wire>;

const fromWire = (w: WireReceipt): Receipt => ({
  signature: w.signature,
  cert: w.cert,
  ...(w.node_id === undefined ? {} : { nodeId: w.node_id }),
  ...(w.is_signature_transaction === undefined
    ? {}
    : { isSignatureTransaction: w.is_signature_transaction }),
  leafComponents: {
    writeSetDigest: w.leaf_components.write_set_digest,
    commitEvidence: w.leaf_components.commit_evidence,
    ...(w.leaf_components.claims_digest === undefined
      ? {}
      : { claimsDigest: w.leaf_components.claims_digest }),
  },
  proof: w.proof,
});

const toWire = (r: Receipt): WireReceipt => ({
  signature: r.signature,
  cert: r.cert,
  ...(r.nodeId === undefined ? {} : { node_id: r.nodeId }),
  ...(r.isSignatureTransaction === undefined
    ? {}
    : { is_signature_transaction: r.isSignatureTransaction }),
  leaf_components: {
    write_set_digest: r.leafComponents.writeSetDigest,
    commit_evidence: r.leafComponents.commitEvidence,
    ...(r.leafComponents.claimsDigest === undefined
      ? {}
      : { claims_digest: r.leafComponents.claimsDigest }),
  },
  proof: r.proof,
});

const isObject = (u: unknown): u is object => typeof u === "object" && u !== null;

// `toWire` reads inside `leafComponents`, so that must be an object before it runs.
const isReceipt = (u: unknown): u is Receipt =>
  isObject(u) && isObject((u as Partial<Receipt>).leafComponents) && Wire.is(toWire(u as Receipt));

/** Codec between CCF's receipt JSON and {@link Receipt}; unknown fields are dropped. */
export const ReceiptCodec = new t.Type<Receipt, ReceiptJson, unknown>(
  "Receipt",
  isReceipt,
  (u, c) => E.map(fromWire)(Wire.validate(u, t.appendContext(c, "", Wire, u))),
  (r) => Wire.encode(toWire(r)) as ReceiptJson,
);

// Intersections add index keys ("0", "1") that mean nothing to the sender of the receipt.
const pathOf = (context: t.Context): string =>
  context
    .filter((e, i) => e.key !== "" && !(context[i - 1]?.type instanceof t.IntersectionType))
    .map((e) => e.key)
    .join(".");

const describeFirst = (errors: t.Errors): string => {
  const first = errors[0];
  if (first === undefined) return "receipt does not have CCF's receipt shape";
  const path = pathOf(first.context);
  const what = first.message ??
    `expected ${first.context[first.context.length - 1]?.type.name}`;
  return path ? `receipt field ${path}: ${what}` : `receipt: ${what}`;
};

/**
 * Decodes a receipt given as parsed JSON or as JSON text (the form `/listpubkeys` carries).
 * Every failure, including a throwing getter on a hostile object, is a `format` error.
 */
export const decodeReceipt = (input: unknown): E.Either<KmsError, Receipt> => {
  const format = (message: string) => E.left(invalidReceipt("format", message));
  try {
    if (typeof input === "string" && input.length > MAX_RECEIPT_JSON_LENGTH) {
      return format(
        `receipt JSON is longer than ${MAX_RECEIPT_JSON_LENGTH} characters`,
      );
    }
    const value: unknown = typeof input === "string" ? JSON.parse(input) : input;
    const decoded = ReceiptCodec.decode(value);
    return E.isRight(decoded) ? decoded : format(describeFirst(decoded.left));
  } catch {
    return format("receipt is not valid JSON of CCF's receipt shape");
  }
};

/** The hash of an inner Merkle node, SHA-256(left ‖ right). */
export const hashNodes = (left: Uint8Array, right: Uint8Array): Uint8Array =>
  sha256(concat(left, right));

const leafPreimage = (c: LeafComponents): Uint8Array =>
  concat(c.writeSetDigest, sha256(utf8(c.commitEvidence)), c.claimsDigest ?? new Uint8Array(0));

/**
 * The transaction's Merkle leaf: SHA-256(write_set_digest ‖ SHA-256(commit_evidence) ‖
 * claims_digest), with the last part left out when no claims digest was set (as CCF does).
 */
export const leafOf = (c: LeafComponents): Uint8Array => sha256(leafPreimage(c));

/** The Merkle root reached from `leaf` by walking `proof` in order. */
export const rootOf = (
  leaf: Uint8Array,
  proof: readonly ProofStep[],
): Uint8Array =>
  proof.reduce(
    (h, s) => s.side === "left" ? hashNodes(s.hash, h) : hashNodes(h, s.hash),
    leaf,
  );

/**
 * The bytes whose SHA-256 is the Merkle root. CCF signs the root itself as a prehashed digest; an
 * ECDSA API that always hashes its input (WebCrypto) can check that signature over these bytes.
 */
export const rootPreimage = (c: LeafComponents, proof: readonly ProofStep[]): Uint8Array => {
  if (proof.length === 0) return leafPreimage(c);
  const below = rootOf(leafOf(c), proof.slice(0, -1));
  const last = proof[proof.length - 1];
  return last.side === "left" ? concat(last.hash, below) : concat(below, last.hash);
};
