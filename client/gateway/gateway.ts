/**
 * A Deno OHTTP gateway: the HTTP handler that a confidential GPU VM runs in front of its
 * inference engine, compatible with the real attested OHTTP client and server
 * (microsoft/attested-ohttp-server).
 *
 * For `POST /score` it reads the key id from the first byte of the body, gets that key from the
 * KMS on first use (see keyCache.ts), decapsulates the RFC 9458 request, forwards the bhttp
 * request inside to the target, and seals the target's answer in the peers' chunked framing with
 * the target's status. It never logs or echoes plaintext, keys or tokens: a log line names the
 * key id, the status and the kind of failure only.
 */
import * as E from "fp-ts/lib/Either.js";
import type { KmsClient, ReleaseKeyRequest } from "../kms/client.ts";
import { decodeRequest } from "../ohttp/bhttp.ts";
import { decapsulateRequest, type GatewayContext } from "../ohttp/encapsulation.ts";
import {
  CHUNKED_RESPONSE_TYPE,
  errorAnswer,
  keyFailureAnswer,
  REQUEST_ID_HEADER,
} from "./answers.ts";
import { describeFailure } from "./describeFailure.ts";
import { ENGINE_TARGET_HEADER, outerHeaders, targetRequest, targetUrl } from "./forward.ts";
import { createKeyCache } from "./keyCache.ts";
import { type GatewayKey, kmsKeySource } from "./keySource.ts";
import { readAtMost, sealedStream, sealedWhole } from "./sealedBody.ts";

/** The path the real server serves. */
export const DEFAULT_PATH = "/score";
/** Largest encapsulated request accepted: prompts with an attachment or two. */
export const DEFAULT_MAX_REQUEST_BYTES = 16 * 1024 * 1024;
/** Largest error body of the target that is sealed; the rest is dropped. */
export const DEFAULT_MAX_ERROR_BODY_BYTES = 64 * 1024;

/** How to build a gateway. */
export interface GatewayOptions {
  /** The KMS to release keys from; only `releaseKey` is used, and the caller closes it. */
  readonly kms: Pick<KmsClient, "releaseKey">;
  /** A fresh attestation token for each key release. */
  readonly token: () => Promise<string>;
  /** Decrypts a released key with the VM's TPM key. */
  readonly unwrap: ReleaseKeyRequest["unwrap"];
  /** The inference engine: requests go to its origin with the client's path. */
  readonly target: URL;
  /** Sends the target requests; the global `fetch` by default. */
  readonly fetch?: typeof fetch;
  /** Milliseconds since the epoch; `Date.now` by default. */
  readonly clock?: () => number;
  /** How long a released key is used; 24 h by default, as the real server. */
  readonly keyTtlMs?: number;
  /** How long a failed key release is answered from the cache; 60 s by default. */
  readonly failureTtlMs?: number;
  /** The path served; {@link DEFAULT_PATH} by default. */
  readonly path?: string;
  /** Largest encapsulated request; {@link DEFAULT_MAX_REQUEST_BYTES} by default. */
  readonly maxRequestBytes?: number;
  /** Most bytes of a target's error body passed on; {@link DEFAULT_MAX_ERROR_BODY_BYTES}. */
  readonly maxErrorBodyBytes?: number;
  /** Receives one line per request and per key fetch, free of secrets; silent when absent. */
  readonly log?: (line: string) => void;
}

/** A gateway: a request handler for `Deno.serve`. */
export interface Gateway {
  /** Answers one request; never rejects. */
  handle(request: Request): Promise<Response>;
}

// Responses with these statuses have no body in HTTP, so there is nothing to seal.
const NULL_BODY_STATUSES = new Set([204, 205, 304]);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A gateway in front of `options.target`. */
export const createGateway = (options: GatewayOptions): Gateway => {
  const clock = options.clock ?? Date.now;
  const send = options.fetch ?? fetch;
  const path = options.path ?? DEFAULT_PATH;
  const maxRequest = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  const maxErrorBody = options.maxErrorBodyBytes ?? DEFAULT_MAX_ERROR_BODY_BYTES;
  const log = options.log ?? (() => {});
  const release = kmsKeySource(options);
  const keys = createKeyCache<GatewayKey>({
    fetch: async (keyId) => {
      const key = await release(keyId);
      log(
        E.isRight(key)
          ? `key ${keyId}: released by the KMS`
          : `key ${keyId}: unavailable: ${key.left._tag}: ${key.left.message}`,
      );
      return key;
    },
    keyTtlMs: options.keyTtlMs,
    failureTtlMs: options.failureTtlMs,
    clock,
  });

  /** The answer, and the key id for the log when the body had one. */
  const answer = async (
    request: Request,
    ids: Record<string, string>,
  ): Promise<{ response: Response; keyId?: number }> => {
    const body = await readEncapsulated(request, path, maxRequest, ids);
    if (E.isLeft(body)) return { response: body.left };
    const keyId = body.right[0];
    const key = await keys.get(keyId);
    if (E.isLeft(key)) {
      return { keyId, response: keyFailureAnswer(keyId, key.left, clock(), ids) };
    }
    const opened = await decapsulateRequest(key.right.keyPair, key.right.config, body.right);
    if (E.isLeft(opened)) {
      return {
        keyId,
        response: errorAnswer(422, "DecapsulationFailed", opened.left.message, ids),
      };
    }
    const inner = decodeRequest(opened.right.request);
    if (E.isLeft(inner)) {
      return {
        keyId,
        response: errorAnswer(
          400,
          "InvalidRequest",
          "the decapsulated request is not a known-length binary HTTP request (RFC 9292)",
          ids,
        ),
      };
    }
    const url = targetUrl(
      options.target,
      inner.right.path,
      request.headers.get(ENGINE_TARGET_HEADER),
    );
    // Not tied to request.signal: Deno.serve still aborts that signal after every successful
    // response. A client that leaves mid-answer cancels the sealed stream, and with it the target.
    const forward = E.flatMap((u: URL) => targetRequest(inner.right, u))(url);
    if (E.isLeft(forward)) {
      return { keyId, response: errorAnswer(400, "InvalidRequest", forward.left, ids) };
    }
    let target: Response;
    try {
      target = await send(forward.right);
    } catch (e) {
      log(`key ${keyId}: the target did not answer: ${describeFailure(e)}`);
      return {
        keyId,
        response: errorAnswer(502, "TargetUnreachable", "the target did not answer", ids),
      };
    }
    return { keyId, response: await sealAnswer(target, opened.right.context, ids, maxErrorBody) };
  };

  return {
    handle: async (request) => {
      const started = clock();
      const given = request.headers.get("apim-request-id");
      const requestId = given !== null && UUID.test(given) ? given : crypto.randomUUID();
      const ids = { [REQUEST_ID_HEADER]: requestId };
      let result: { response: Response; keyId?: number };
      try {
        result = await answer(request, ids);
      } catch (e) {
        log(`request ${requestId}: gateway fault: ${describeFailure(e)}`);
        result = {
          response: errorAnswer(500, "InternalError", "the gateway failed to answer", ids),
        };
      }
      const key = result.keyId === undefined ? "" : ` key ${result.keyId}`;
      log(
        `${request.method} ${new URL(request.url).pathname}${key} -> ${result.response.status} ` +
          `(${clock() - started} ms, request ${requestId})`,
      );
      return result.response;
    },
  };
};

/** The encapsulated request in the body, or the answer that refuses the request. */
const readEncapsulated = async (
  request: Request,
  path: string,
  maxBytes: number,
  ids: Record<string, string>,
): Promise<E.Either<Response, Uint8Array>> => {
  if (new URL(request.url).pathname !== path) {
    await request.body?.cancel();
    return E.left(errorAnswer(404, "NotFound", `the gateway serves ${path} only`, ids));
  }
  if (request.method !== "POST") {
    await request.body?.cancel();
    return E.left(
      errorAnswer(405, "MethodNotAllowed", `${path} accepts POST only`, { ...ids, allow: "POST" }),
    );
  }
  const declared = Number(request.headers.get("content-length") ?? "0");
  const body = declared > maxBytes ? undefined : await readAtMost(request.body, maxBytes);
  if (!body?.complete) {
    // Unread when the declared length was refused; readAtMost cancelled it otherwise.
    if (!body) await request.body?.cancel();
    return E.left(errorAnswer(
      413,
      "PayloadTooLarge",
      `an encapsulated request may hold at most ${maxBytes} bytes`,
      ids,
    ));
  }
  return body.bytes.length > 0 ? E.right(body.bytes) : E.left(errorAnswer(
    400,
    "InvalidRequest",
    "the body is empty: an encapsulated OHTTP request (RFC 9458) was expected",
    ids,
  ));
};

/** The target's answer sealed for the client, with the target's status. */
const sealAnswer = async (
  target: Response,
  context: GatewayContext,
  ids: Record<string, string>,
  maxErrorBody: number,
): Promise<Response> => {
  const headers = outerHeaders(target.headers, ids);
  if (NULL_BODY_STATUSES.has(target.status)) {
    await target.body?.cancel();
    return new Response(null, { status: target.status, headers });
  }
  const sealer = await context.chunkedResponseSealer();
  if (E.isLeft(sealer)) {
    await target.body?.cancel();
    throw new Error(sealer.left.message);
  }
  headers.set("content-type", CHUNKED_RESPONSE_TYPE);
  const sealed = target.ok
    ? sealedStream(target.body, sealer.right)
    : await sealedWhole(target.body, sealer.right, maxErrorBody);
  return new Response(sealed, { status: target.status, headers });
};
