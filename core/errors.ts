/**
 * The KMS's one error type and its one mapping to HTTP.
 *
 * Every failure the core can decide is a value of {@link KmsError}; the CCF shell, the sandbox and
 * the client turn it into a response (or a thrown client error) with {@link toHttp} only. Messages
 * say what the caller should fix and never carry secret material (keys, tokens).
 */

/** One rule of the key release policy that a token did not satisfy. */
export interface PolicyFailure {
  /** The claim's dotted path in the token, e.g. `x-ms-isolation-tee.x-ms-attestation-type`. */
  readonly claim: string;
  /** The policy map the rule belongs to. */
  readonly rule: "claims" | "gte" | "gt";
  /** The rule: the allowed values for `claims`, the numeric threshold for `gte` and `gt`. */
  readonly expected: unknown;
  /** The token's value at `claim`; `null` when the claim is missing (JSON has no undefined). */
  readonly actual: unknown;
}

/** Which step of receipt verification failed. */
export type ReceiptCheck =
  | "format"
  | "endorsement"
  | "signature"
  | "claims_digest";

/** Every error the KMS reports, as a tagged union. */
export type KmsError =
  | { readonly _tag: "InvalidInput"; readonly message: string }
  | { readonly _tag: "Unauthenticated"; readonly message: string }
  | { readonly _tag: "Forbidden"; readonly message: string }
  | {
    readonly _tag: "PolicyDenied";
    readonly message: string;
    readonly failures: readonly PolicyFailure[];
  }
  | { readonly _tag: "KeyNotFound"; readonly message: string }
  | { readonly _tag: "KeyExpired"; readonly message: string }
  | {
    readonly _tag: "ReceiptNotReady";
    readonly message: string;
    readonly retryAfterSeconds: number;
  }
  | { readonly _tag: "KeyIdsExhausted"; readonly message: string }
  | {
    readonly _tag: "InvalidReceipt";
    readonly check: ReceiptCheck;
    readonly message: string;
  }
  | { readonly _tag: "Internal"; readonly message: string };

/** The tag of a {@link KmsError}; also its `code` on the wire. */
export type KmsErrorCode = KmsError["_tag"];

/** Malformed input: the caller must change the request. */
export const invalidInput = (message: string): KmsError => ({
  _tag: "InvalidInput",
  message,
});
/** Authenticated, but this caller may not do this. */
export const forbidden = (message: string): KmsError => ({
  _tag: "Forbidden",
  message,
});
/** Missing or unacceptable credentials. */
export const unauthenticated = (message: string): KmsError => ({
  _tag: "Unauthenticated",
  message,
});
/** The token did not satisfy the key release policy; lists every failed rule. */
export const policyDenied = (
  message: string,
  failures: readonly PolicyFailure[],
): KmsError => ({ _tag: "PolicyDenied", message, failures });
/** No key with that id exists. */
export const keyNotFound = (message: string): KmsError => ({
  _tag: "KeyNotFound",
  message,
});
/** The key exists but can no longer be released. */
export const keyExpired = (message: string): KmsError => ({
  _tag: "KeyExpired",
  message,
});
/** The key's receipt is not signed yet: retry later. */
export const receiptNotReady = (
  message: string,
  retryAfterSeconds = 1,
): KmsError => ({
  _tag: "ReceiptNotReady",
  message,
  retryAfterSeconds,
});
/** All 256 OHTTP key ids belong to keys that can still be released. */
export const keyIdsExhausted = (message: string): KmsError => ({
  _tag: "KeyIdsExhausted",
  message,
});
/** A receipt failed one verification step; the client fails closed. */
export const invalidReceipt = (
  check: ReceiptCheck,
  message: string,
): KmsError => ({
  _tag: "InvalidReceipt",
  check,
  message,
});
/** A fault of the service itself. */
export const internal = (message: string): KmsError => ({
  _tag: "Internal",
  message,
});

const statusOf: { readonly [K in KmsErrorCode]: number } = {
  InvalidInput: 400,
  Unauthenticated: 401,
  Forbidden: 403,
  PolicyDenied: 403,
  KeyNotFound: 404,
  KeyExpired: 410,
  ReceiptNotReady: 202,
  KeyIdsExhausted: 409,
  InvalidReceipt: 502,
  Internal: 500,
};

/** The HTTP form of an error: status, extra headers and the JSON body. */
export interface HttpError {
  /** The HTTP status code; 202 for `ReceiptNotReady`, a "come back later" and not a failure. */
  readonly status: number;
  /** Headers to add to the response: `retry-after` (seconds) for `ReceiptNotReady`, else none. */
  readonly headers: Readonly<Record<string, string>>;
  /** The JSON body; `details` lists the failed rules of a `PolicyDenied` only. */
  readonly body: {
    readonly error: {
      readonly code: KmsErrorCode;
      readonly message: string;
      readonly details?: readonly PolicyFailure[];
    };
  };
}

/** The single mapping from {@link KmsError} to an HTTP response. */
export const toHttp = (e: KmsError): HttpError => ({
  status: statusOf[e._tag],
  headers: e._tag === "ReceiptNotReady" ? { "retry-after": String(e.retryAfterSeconds) } : {},
  body: {
    error: e._tag === "PolicyDenied"
      ? { code: e._tag, message: e.message, details: e.failures }
      : { code: e._tag, message: e.message },
  },
});
