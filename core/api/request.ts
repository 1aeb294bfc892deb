/**
 * A request as the endpoints' decisions see it, and the answer they give: the HTTP response and
 * the one log line of the request.
 */
import * as E from "fp-ts/lib/Either.js";
import { type KmsError, toHttp } from "../errors.ts";
import type { Program } from "../effects.ts";
import { requestIdOf } from "./requestId.ts";
import { utf8 } from "../bytes.ts";

/** What the shell hands an endpoint's decision: the request, decoded no further, and the time. */
export interface AppRequest {
  /** The raw query string, without `?`. */
  readonly query: string;
  /** Request headers, lower-case names. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** CCF's caller object (authentication policy and identity), unchecked. */
  readonly caller: unknown;
  /** The body's size in bytes (no endpoint reads a body). */
  readonly bodyBytes: number;
  /** The host's clock in whole seconds (untrusted, the only one CCF offers). */
  readonly now: number;
}

/** An endpoint's decision: a program whose value is the JSON body of a 200 answer. */
export type Endpoint = (request: AppRequest) => Program<unknown>;

/**
 * A 200 body serialized once and kept (a cached listing): it is sent as it is, as JSON bytes,
 * instead of being serialized again on every request. Bytes rather than a string, because an
 * ArrayBuffer body leaves the interpreter as it is, where a string is converted to UTF-8 on every
 * answer (25 µs for a 17 KB listing in the sandbox's QuickJS).
 */
export interface JsonText {
  readonly _tag: "JsonText";
  /** UTF-8 of the JSON text; the handler returns it as it is (the host copies it). */
  readonly bytes: ArrayBuffer;
}

/** `value` serialized as a {@link JsonText} body. */
export const jsonText = (value: unknown): JsonText => ({
  _tag: "JsonText",
  bytes: utf8(JSON.stringify(value)).buffer as ArrayBuffer,
});

const isJsonText = (body: unknown): body is JsonText =>
  typeof body === "object" && body !== null && (body as JsonText)._tag === "JsonText";

/** An HTTP response in the shape CCF's handlers return. */
export interface AppResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: unknown;
}

/** The response to a request and the request's log line, which carries no secret. */
export interface Answer {
  readonly response: AppResponse;
  readonly log: Readonly<Record<string, unknown>>;
}

/**
 * The answer to `request` at `endpoint` once its program finished with `result`: 200 with the JSON
 * body, or the error's status, headers and body. The log line names the endpoint, the caller's
 * request id (echoed as `x-ms-kms-request-id`), the status and the error code.
 */
export const answer = (
  endpoint: string,
  request: AppRequest,
  result: E.Either<KmsError, unknown>,
): Answer => {
  const requestId = requestIdOf(request.headers);
  const idHeader: Record<string, string> = requestId ? { "x-ms-kms-request-id": requestId } : {};
  if (E.isRight(result)) {
    const body = result.right;
    return {
      response: isJsonText(body)
        ? {
          statusCode: 200,
          headers: { ...idHeader, "content-type": "application/json" },
          body: body.bytes,
        }
        : { statusCode: 200, headers: idHeader, body },
      log: { endpoint, requestId, status: 200 },
    };
  }
  const http = toHttp(result.left);
  return {
    response: {
      statusCode: http.status,
      headers: { ...http.headers, ...idHeader },
      body: http.body,
    },
    log: { endpoint, requestId, status: http.status, code: http.body.error.code },
  };
};
