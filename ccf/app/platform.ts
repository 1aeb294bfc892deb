/**
 * The CCF shell's interpreter: the only code that touches the `ccf` global. It reads and writes the
 * KV as JSON, fetches receipts, generates and wraps keys, and turns core results into responses.
 */
import { ccf } from "@microsoft/ccf-app/global.js";
import type * as ccfapp from "@microsoft/ccf-app/endpoints.js";
import * as E from "fp-ts/lib/Either.js";
import { requestIdOf } from "../../core/api/requestId.ts";
import { internal, type KmsError, receiptNotReady, toHttp } from "../../core/errors.ts";

/** The current time in whole seconds (the host's untrusted clock, as CCF offers no other). */
export const nowSeconds = (): number => {
  ccf.enableUntrustedDateTime(true);
  return Math.floor(Date.now() / 1000);
};

const kvKey = (key: string): ArrayBuffer => ccf.strToBuf(key);

/** The JSON value at `key` of `map`, or undefined. */
export const readJson = (map: string, key: string): unknown => {
  const value = ccf.kv[map].get(kvKey(key));
  return value === undefined ? undefined : ccf.bufToJsonCompatible(value);
};

/** Writes `value` as JSON at `key` of `map`. */
export const writeJson = (map: string, key: string, value: unknown): void => {
  ccf.kv[map].set(kvKey(key), ccf.jsonCompatibleToBuf(value as never));
};

/** Deletes `key` from `map`. */
export const deleteKey = (map: string, key: string): void => {
  ccf.kv[map].delete(kvKey(key));
};

/**
 * The stored value at `key` of `map` decoded with `decode`, or `fallback` when none is stored. A
 * value that does not decode is the service's fault, not the caller's: `Internal`.
 */
export const readStored = <A>(
  map: string,
  key: string,
  decode: (u: unknown) => E.Either<KmsError, A>,
  fallback: A,
): E.Either<KmsError, A> => {
  const stored = readJson(map, key);
  return stored === undefined
    ? E.right(fallback)
    : E.mapLeft((e: KmsError) => internal(e.message))(decode(stored));
};

/** Seconds a receipt stays cached by the historical query system. */
const receiptCacheSeconds = 1800;

/**
 * The receipt (as a JSON string) of the transaction that last wrote `key` in `map`, or
 * `ReceiptNotReady` while it is not yet covered by a signature. The handle is the transaction's own
 * seqno, so two different transactions never share one (shared handles restart each other's
 * fetches and never finish).
 */
export const receiptOf = (map: string, key: string): E.Either<KmsError, string> => {
  const seqno = ccf.kv[map].getVersionOfPreviousWrite(kvKey(key));
  if (seqno === undefined) return E.left(internal(`no write of ${key} in ${map} to prove`));
  const states = ccf.historical.getStateRange(seqno, seqno, seqno, receiptCacheSeconds);
  return states === null
    ? E.left(receiptNotReady("the receipt is not signed yet; retry in a second", 1))
    : E.right(JSON.stringify(states[0].receipt));
};

/** Generates a P-384 key pair inside the TEE and returns its private JWK (d, x, y). */
export const generateP384Jwk = (): unknown =>
  ccf.crypto.pemToJwk(ccf.crypto.generateEcdsaKeyPair("secp384r1").privateKey);

/** RSA-OAEP (SHA-256, MGF1-SHA-256, no label) of `plaintext` to an RSA public JWK. */
export const wrapToRsaJwk = (plaintext: Uint8Array, jwk: { n: string; e: string }): Uint8Array =>
  new Uint8Array(ccf.crypto.wrapKey(
    plaintext.slice().buffer,
    ccf.strToBuf(ccf.crypto.pubRsaJwkToPem({ kty: "RSA", n: jwk.n, e: jwk.e })),
    { name: "RSA-OAEP" },
  ));

/** Binds the current transaction's receipt to a 32-byte claims digest. */
export const setClaimsDigest = (digest: Uint8Array): void =>
  ccf.rpc.setClaimsDigest(digest.slice().buffer);

const log = (entry: Record<string, unknown>): void => console.log(JSON.stringify(entry));

// A throw from the platform (KV, crypto) is a fault of the service. Its message is not passed on:
// it is the platform's, not ours, and nothing guarantees it carries no key material.
const attempt = (work: () => E.Either<KmsError, unknown>): E.Either<KmsError, unknown> => {
  try {
    return work();
  } catch {
    return E.left(internal("the service failed while handling the request"));
  }
};

/**
 * Runs an endpoint's work and turns its result into a CCF response: 200 with the JSON body, or the
 * error's status, headers and body (an exception becomes a 500 `Internal`). Every request is
 * logged once, with no secret: the endpoint, the caller's request id, the status and the error
 * code. Writes only commit on 2xx, so a refusal never leaves a partial change behind.
 */
export const respond = (
  endpoint: string,
  request: ccfapp.Request,
  work: () => E.Either<KmsError, unknown>,
): ccfapp.Response => {
  const requestId = requestIdOf(request.headers);
  const idHeader: Record<string, string> = requestId ? { "x-ms-kms-request-id": requestId } : {};
  const result = attempt(work);
  if (E.isRight(result)) {
    log({ endpoint, requestId, status: 200 });
    return { statusCode: 200, headers: idHeader, body: result.right as never };
  }
  const http = toHttp(result.left);
  log({ endpoint, requestId, status: http.status, code: http.body.error.code });
  return { statusCode: http.status, headers: { ...http.headers, ...idHeader }, body: http.body };
};
