/**
 * Fail-closed verification of CCF receipts: the one place that holds the checks, their order and
 * their verdicts. A receipt is accepted only if it decodes, its node certificate is endorsed by
 * the service certificate, its Merkle root is signed by that node's key, and its claims digest is
 * SHA-256 of the claim the caller expects; the first failure is the result.
 *
 * The checks are a {@link ReceiptVerification}: a value that asks for one crypto check at a time
 * and goes on with its outcome, so that the crypto may answer synchronously or asynchronously.
 * Two runners answer it. {@link verifyReceipt} answers with a synchronous {@link ReceiptCrypto}
 * (the Deno one is `client/receiptCrypto.ts`); `mod.ts` exports it, and the tests check the
 * sandbox's receipts with it. The client's `receiptVerifier` (`client/kms/receiptVerifier.ts`,
 * used by the KMS client, the `kms audit` command and the demo) answers asynchronously, with
 * remembered endorsements and WebCrypto's native ECDSA. The CCF app and the sandbox issue receipts
 * and verify none. Whatever the crypto answers or throws, the verification answers with a value.
 */
import * as E from "fp-ts/lib/Either.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { equal } from "../bytes.ts";
import { invalidReceipt, type KmsError, type ReceiptCheck } from "../errors.ts";
import { decodeReceipt, leafOf, type Receipt, rootOf, rootPreimage } from "./receipt.ts";

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

/** What one crypto check found: verified, not verified, or why it could not be checked. */
export type CheckOutcome = boolean | { readonly error: string };

/** A receipt's verification: finished, or waiting for the outcome of one crypto check. */
export type ReceiptVerification =
  | { readonly _tag: "Done"; readonly result: E.Either<KmsError, VerifiedReceipt> }
  | {
    readonly _tag: "CheckEndorsement";
    /** Is this node certificate issued by `issuerPem` and signed by its key? */
    readonly certPem: string;
    readonly issuerPem: string;
    readonly next: (outcome: CheckOutcome) => ReceiptVerification;
  }
  | {
    readonly _tag: "CheckSignature";
    /** Is `signature` (DER ECDSA) by this certificate's key over the digest `root`? */
    readonly certPem: string;
    readonly root: Uint8Array;
    /** The bytes whose SHA-256 is `root`, for crypto that hashes itself. */
    readonly rootPreimage: Uint8Array;
    readonly signature: Uint8Array;
    readonly next: (outcome: CheckOutcome) => ReceiptVerification;
  };

const done = (result: E.Either<KmsError, VerifiedReceipt>): ReceiptVerification => ({
  _tag: "Done",
  result,
});

// Only a literal `true` passes: a capability written in plain JS might answer anything.
const refusal = (outcome: CheckOutcome, check: ReceiptCheck, whenFalse: string) =>
  outcome === true ? undefined : done(E.left(invalidReceipt(
    check,
    typeof outcome === "object" && outcome !== null ? `${whenFalse}: ${outcome.error}` : whenFalse,
  )));

const expectedDigest = (expected: ExpectedClaim): Uint8Array =>
  "claim" in expected ? sha256(expected.claim) : expected.claimsDigest;

/** Checks that the receipt commits to the expected claim; returns its claims digest. */
const checkClaims = (
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
 * The verification of `input`, checks in the order of the chain of trust: format, endorsement,
 * signature, claims digest. The first failure is the result.
 */
export const receiptVerification = (input: VerifyReceiptInput): ReceiptVerification => {
  const decoded = decodeReceipt(input.receipt);
  if (E.isLeft(decoded)) return done(decoded);
  const receipt = decoded.right;
  const leaf = leafOf(receipt.leafComponents);
  const root = rootOf(leaf, receipt.proof);
  return {
    _tag: "CheckEndorsement",
    certPem: receipt.cert,
    issuerPem: input.serviceCertPem,
    next: (endorsed) =>
      refusal(
        endorsed,
        "endorsement",
        "the receipt's node certificate is not endorsed by the service certificate " +
          "(check that the service certificate is this KMS's)",
      ) ?? {
        _tag: "CheckSignature",
        certPem: receipt.cert,
        root,
        rootPreimage: rootPreimage(receipt.leafComponents, receipt.proof),
        signature: receipt.signature,
        next: (signed) =>
          refusal(
            signed,
            "signature",
            "the receipt's signature does not verify over its Merkle root " +
              "(the receipt was altered or belongs to another transaction)",
          ) ??
            done(
              E.map((claimsDigest: Uint8Array) => ({ receipt, leaf, root, claimsDigest }))(
                checkClaims(receipt, input.expected),
              ),
            ),
      },
  };
};

const reasonOf = (e: unknown): string => {
  try {
    return e instanceof Error ? e.message.slice(0, 300) : "unknown failure";
  } catch {
    return "unknown failure";
  }
};

/** The outcome of a synchronous check; a throw is a reason, never an exception. */
export const outcomeOf = (check: () => unknown): CheckOutcome => {
  try {
    return check() === true;
  } catch (e) {
    return { error: reasonOf(e) };
  }
};

/**
 * Verifies a CCF receipt against the service certificate and the expected claim with synchronous
 * crypto (see {@link receiptVerification}); nothing is thrown.
 */
export const verifyReceipt = (
  crypto: ReceiptCrypto,
  input: VerifyReceiptInput,
): E.Either<KmsError, VerifiedReceipt> => {
  let v = receiptVerification(input);
  while (v._tag !== "Done") {
    const step = v;
    v = step._tag === "CheckEndorsement"
      ? step.next(outcomeOf(() => crypto.verifyEndorsement(step.certPem, step.issuerPem)))
      : step.next(
        outcomeOf(() => crypto.verifyDigestSignature(step.certPem, step.root, step.signature)),
      );
  }
  return v.result;
};
