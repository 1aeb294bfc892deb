/**
 * The client's half of an exchange with an OHTTP gateway: seal a bhttp request to a KeyConfig,
 * POST it as the real client does (`message/ohttp-chunked-req`), and open the chunked answer as
 * it streams in. The KeyConfig must come from a verified listing (`KmsClient.listKeys`).
 */
import * as E from "fp-ts/lib/Either.js";
import { internal, type KmsError } from "../../core/errors.ts";
import type { KeyConfig } from "../../core/ohttp/keyConfig.ts";
import { type BhttpRequest, encodeRequest } from "../ohttp/bhttp.ts";
import { type ClientContext, encapsulateRequest } from "../ohttp/encapsulation.ts";
import { CHUNKED_REQUEST_TYPE, CHUNKED_RESPONSE_TYPE } from "./answers.ts";
import { describeFailure } from "./describeFailure.ts";

/** What {@link sendOhttpRequest} sends, and where. */
export interface OhttpExchange {
  /** The gateway's endpoint, e.g. `http://127.0.0.1:9443/score`. */
  readonly url: string | URL;
  /** The gateway's key, from a verified listing. */
  readonly config: KeyConfig;
  /** The request for the target, sealed so that only the gateway reads it. */
  readonly request: BhttpRequest;
  /** Outer headers, seen by every hop (e.g. `enginetarget`). */
  readonly headers?: HeadersInit;
  /** Sends the request; the global `fetch` by default. */
  readonly fetch?: typeof fetch;
  /** Aborts the exchange. */
  readonly signal?: AbortSignal;
}

/** The gateway's answer. */
export interface OhttpResponse {
  /** The target's status, or the gateway's own when it could not forward the request. */
  readonly status: number;
  /** Outer headers (the target's, copied by the gateway, or the gateway's own). */
  readonly headers: Headers;
  /** Whether the body was sealed; the gateway's own errors are not. */
  readonly sealed: boolean;
  /**
   * The plaintext body: the target's, opened chunk by chunk, or the gateway's error. The stream
   * errors if a chunk fails authentication or the final chunk is missing.
   */
  readonly body: ReadableStream<Uint8Array>;
}

/** A POST of `content` to `path` (and query) for the target, as the real client sends prompts. */
export const postRequest = (
  path: string,
  content: Uint8Array,
  contentType = "application/octet-stream",
): BhttpRequest => ({
  method: "POST",
  scheme: "https",
  authority: "",
  path,
  headers: [["content-type", contentType]],
  content,
});

const emptyStream = (): ReadableStream<Uint8Array> =>
  new ReadableStream({ start: (controller) => controller.close() });

/** The opened body of a sealed answer, as a stream of the target's plaintext chunks. */
export const openedStream = (
  body: ReadableStream<Uint8Array> | null,
  context: ClientContext,
): ReadableStream<Uint8Array> => {
  const reader = context.chunkedResponseReader();
  return (body ?? emptyStream()).pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      async transform(bytes, controller) {
        const chunks = await reader.push(bytes);
        if (E.isLeft(chunks)) throw new Error(chunks.left.message);
        for (const chunk of chunks.right) if (chunk.length > 0) controller.enqueue(chunk);
      },
      async flush() {
        const end = await reader.end();
        if (E.isLeft(end)) throw new Error(end.left.message);
      },
    }),
  );
};

/**
 * Seals `exchange.request` to the config's key and sends it to the gateway. A Left when it cannot
 * be sealed or the gateway cannot be reached; any HTTP answer is a Right.
 */
export const sendOhttpRequest = async (
  exchange: OhttpExchange,
): Promise<E.Either<KmsError, OhttpResponse>> => {
  const bhttp = encodeRequest(exchange.request);
  if (E.isLeft(bhttp)) return bhttp;
  const sealed = await encapsulateRequest(exchange.config, bhttp.right);
  if (E.isLeft(sealed)) return sealed;
  const headers = new Headers(exchange.headers);
  headers.set("content-type", CHUNKED_REQUEST_TYPE);
  let response: Response;
  try {
    response = await (exchange.fetch ?? fetch)(exchange.url, {
      method: "POST",
      headers,
      body: new Uint8Array(sealed.right.body),
      signal: exchange.signal,
    });
  } catch (e) {
    return E.left(internal(`the gateway could not be reached: ${describeFailure(e)}`));
  }
  const isSealed = response.headers.get("content-type") === CHUNKED_RESPONSE_TYPE;
  return E.right({
    status: response.status,
    headers: response.headers,
    sealed: isSealed,
    body: isSealed
      ? openedStream(response.body, sealed.right.context)
      : response.body ?? emptyStream(),
  });
};
