/**
 * The OHTTP gateway as a library, and the client's half of an exchange with it.
 *
 * ```ts
 * const gateway = createGateway({ kms, token, unwrap, target: new URL("http://127.0.0.1:8080") });
 * Deno.serve({ hostname: "127.0.0.1", port: 9443 }, gateway.handle);
 * ```
 *
 * @module
 */
export {
  createGateway,
  DEFAULT_MAX_ERROR_BODY_BYTES,
  DEFAULT_MAX_REQUEST_BYTES,
  DEFAULT_PATH,
  type Gateway,
  type GatewayOptions,
} from "./gateway.ts";
export {
  CHUNKED_REQUEST_TYPE,
  CHUNKED_RESPONSE_TYPE,
  type GatewayErrorCode,
  REQUEST_ID_HEADER,
} from "./answers.ts";
export { ENGINE_TARGET_HEADER } from "./forward.ts";
export {
  type CachedFailure,
  type CachedLookup,
  createKeyCache,
  DEFAULT_FAILURE_TTL_MS,
  DEFAULT_KEY_TTL_MS,
  type KeyCache,
  type KeyCacheOptions,
} from "./keyCache.ts";
export { type GatewayKey, kmsKeySource, type KmsKeySourceOptions } from "./keySource.ts";
export {
  type OhttpExchange,
  type OhttpResponse,
  openedStream,
  postRequest,
  sendOhttpRequest,
} from "./sendRequest.ts";
