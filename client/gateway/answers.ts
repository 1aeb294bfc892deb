/**
 * The gateway's own answers, the ones not sealed for the client: every failure before the target
 * answers. They are JSON `{"error": {"code", "message"}}` like the KMS's errors, and say what was
 * wrong with the message without quoting any of it: the body is ciphertext, and what it decrypts
 * to is the client's secret.
 *
 * Statuses follow the real OHTTP server (microsoft/attested-ohttp-server): 422 when the OHTTP layer
 * fails (a key id nobody knows, a message that does not decapsulate), 400 when the request around
 * or inside it is malformed. Unlike that server, a key the gateway cannot obtain for other reasons
 * is a 503 with `retry-after` (the client may come back when the failure has expired from the
 * cache), and 500 is kept for the gateway's own faults.
 */
import type { KmsError } from "../../core/errors.ts";
import type { CachedFailure } from "./keyCache.ts";

/** The media type of a sealed response in the peers' chunked framing. */
export const CHUNKED_RESPONSE_TYPE = "message/ohttp-chunked-res";
/** The media type the real client sends (its body is a plain RFC 9458 request). */
export const CHUNKED_REQUEST_TYPE = "message/ohttp-chunked-req";
/** The response header that carries the request id, as the real server sends it. */
export const REQUEST_ID_HEADER = "x-ms-client-request-id";

/** The gateway's error codes. */
export type GatewayErrorCode =
  | "NotFound"
  | "MethodNotAllowed"
  | "PayloadTooLarge"
  | "InvalidRequest"
  | "UnknownKeyId"
  | "DecapsulationFailed"
  | "KeyUnavailable"
  | "TargetUnreachable"
  | "InternalError";

/** A JSON error answer. */
export const errorAnswer = (
  status: number,
  code: GatewayErrorCode,
  message: string,
  headers: Record<string, string> = {},
): Response =>
  new Response(JSON.stringify({ error: { code, message } }), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });

/** Whether a KMS error means that the key id itself is unknown to the KMS or no longer usable. */
const isUnknownKey = (error: KmsError): boolean =>
  error._tag === "KeyNotFound" || error._tag === "KeyExpired";

/**
 * The answer to a request whose key could not be had: 422 when the KMS does not know the id (the
 * client should fetch the current keys), otherwise 503 until the cached failure expires.
 */
export const keyFailureAnswer = (
  keyId: number,
  failure: CachedFailure,
  now: number,
  headers: Record<string, string>,
): Response => {
  if (isUnknownKey(failure.error)) {
    return errorAnswer(
      422,
      "UnknownKeyId",
      `OHTTP key id ${keyId} is not a key the KMS releases (unknown or expired); ` +
        "fetch the current keys from the KMS",
      headers,
    );
  }
  const seconds = Math.max(1, Math.ceil((failure.retryAt - now) / 1000));
  return errorAnswer(
    503,
    "KeyUnavailable",
    `the gateway could not obtain OHTTP key ${keyId} from the KMS; retry in ${seconds} s`,
    { ...headers, "retry-after": String(seconds) },
  );
};
