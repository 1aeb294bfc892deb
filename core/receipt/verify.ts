/**
 * The fail-closed verifier of CCF receipts, shared by the CCF app, the sandbox and the client.
 *
 * A receipt is accepted only if its node certificate is endorsed by the service certificate,
 * its Merkle root is signed by that node's key, and its claims digest is SHA-256 of the claim the
 * caller expects. Certificate parsing and ECDSA run behind {@link ReceiptCrypto}, a synchronous
 * capability, because each runtime (QuickJS in CCF, Deno) has its own crypto; whatever it returns
 * or throws, the verifier answers with a value.
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { equal } from "../bytes.ts";
import { invalidReceipt, type KmsError, type ReceiptCheck } from "../errors.ts";
import { decodeReceipt, leafOf, type Receipt, rootOf } from "./receipt.ts";

/**
 * Certificate and signature checks, synchronous so that CCF's QuickJS can implement them.
 * Both return `false` when a signature does not verify and throw an `Error`, whose message says
 * what is wrong, for input they cannot check (malformed or unsupported certificates, a node
 * certificate that names another issuer or is a CA). Messages must not carry secrets.
 */
export interface ReceiptCrypto {
  /** Whether `certPem` is issued by `issuerPem` and signed by its key. */
  readonly verifyEndorsement: (certPem: string, issuerPem: string) => boolean;
  /**
   * Whether `derSignature` is an ECDSA signature by `certPem`'s key over `digest`, used as the
   * hash value itself (not hashed again).
   */
  readonly verifyDigestSignature: (
    certPem: string,
    digest: Uint8Array,
    derSignature: Uint8Array,
  ) => boolean;
}

/** The claim a receipt must commit to: its bytes, or their SHA-256 digest. */
export type ExpectedClaim =
  | { readonly claim: Uint8Array }
  | { readonly claimsDigest: Uint8Array };

/** What {@link verifyReceipt} checks. */
export interface VerifyReceiptInput {
  /** The receipt, as parsed JSON or as JSON text. */
  readonly receipt: unknown;
  /** PEM of the KMS's service certificate, obtained out of band. */
  readonly serviceCertPem: string;
  /** The claim the receipt must commit to, e.g. the KeyConfig hex that `/listpubkeys` returned. */
  readonly expected: ExpectedClaim;
}

/** A receipt that passed every check, with what was computed from it. */
export interface VerifiedReceipt {
  /** The decoded receipt. */
  readonly receipt: Receipt;
  /** The transaction's Merkle leaf computed from the receipt (SHA-256, 32 bytes). */
  readonly leaf: Uint8Array;
  /** The Merkle root reached from `leaf` through the proof, whose signature verified (32 bytes). */
  readonly root: Uint8Array;
  /** The receipt's claims digest, equal to SHA-256 of the expected claim (32 bytes). */
  readonly claimsDigest: Uint8Array;
}

const reasonOf = (e: unknown): string => {
  try {
    return e instanceof Error ? e.message.slice(0, 300) : "unknown failure";
  } catch {
    return "unknown failure";
  }
};

// Only a literal `true` passes: a capability written in plain JS might return anything.
const attempt = (
  check: ReceiptCheck,
  run: () => unknown,
  whenFalse: string,
): E.Either<KmsError, void> => {
  try {
    return run() === true ? E.right(undefined) : E.left(invalidReceipt(check, whenFalse));
  } catch (e) {
    return E.left(invalidReceipt(check, `${whenFalse}: ${reasonOf(e)}`));
  }
};

const checkEndorsement = (
  crypto: ReceiptCrypto,
  receipt: Receipt,
  serviceCertPem: string,
) =>
  attempt(
    "endorsement",
    () => crypto.verifyEndorsement(receipt.cert, serviceCertPem),
    "the receipt's node certificate is not endorsed by the service certificate " +
      "(check that the service certificate is this KMS's)",
  );

const checkSignature = (
  crypto: ReceiptCrypto,
  receipt: Receipt,
  root: Uint8Array,
) =>
  attempt(
    "signature",
    () => crypto.verifyDigestSignature(receipt.cert, root, receipt.signature),
    "the receipt's signature does not verify over its Merkle root " +
      "(the receipt was altered or belongs to another transaction)",
  );

const expectedDigest = (expected: ExpectedClaim): Uint8Array =>
  "claim" in expected ? sha256(expected.claim) : expected.claimsDigest;

/** Checks that the receipt commits to the expected claim; returns its claims digest. */
export const checkClaims = (
  receipt: Receipt,
  expected: ExpectedClaim,
): E.Either<KmsError, Uint8Array> => {
  const actual = receipt.leafComponents.claimsDigest;
  if (actual === undefined) {
    return E.left(invalidReceipt(
      "claims_digest",
      "the receipt has no claims digest, so it does not vouch for any key",
    ));
  }
  return equal(actual, expectedDigest(expected)) ? E.right(actual) : E.left(
    invalidReceipt(
      "claims_digest",
      "the receipt's claims digest is not SHA-256 of the expected claim " +
        "(the receipt belongs to another key)",
    ),
  );
};

/**
 * Verifies a CCF receipt against the service certificate and the expected claim. Checks run in
 * the order of the chain of trust (format, endorsement, signature, claims_digest) and the first
 * failure is reported; nothing is thrown.
 */
export const verifyReceipt = (
  crypto: ReceiptCrypto,
  input: VerifyReceiptInput,
): E.Either<KmsError, VerifiedReceipt> =>
  pipe(
    decodeReceipt(input.receipt),
    E.chainFirst((r) => checkEndorsement(crypto, r, input.serviceCertPem)),
    E.map((receipt) => {
      const leaf = leafOf(receipt.leafComponents);
      return { receipt, leaf, root: rootOf(leaf, receipt.proof) };
    }),
    E.chainFirst(({ receipt, root }) => checkSignature(crypto, receipt, root)),
    E.chain((v) =>
      E.map((claimsDigest: Uint8Array) => ({ ...v, claimsDigest }))(
        checkClaims(v.receipt, input.expected),
      )
    ),
  );
