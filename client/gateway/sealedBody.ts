/**
 * The target's response body sealed in the peers' chunked framing (microsoft/attested-ohttp-server):
 * `response_nonce ‖ chunk* ‖ final chunk`, each chunk holding raw bytes of the target's body.
 *
 * A successful body is streamed: every piece the target sends is sealed and passed on at once,
 * so that a model's tokens reach the client as they come, and the final chunk is sealed empty
 * when the target's body ends (the gateway cannot know earlier which piece is the last). That also
 * suits the real client, which opens at most one chunk per network read and never insists on the
 * final one: data in a trailing final chunk that arrived with the previous one could stay unread,
 * an empty final chunk loses nothing.
 *
 * An error body is small and sent as one final chunk, as the real server does. If the target's
 * body fails midway the stream errors without a final chunk, which the client detects as a
 * truncation.
 */
import * as E from "fp-ts/lib/Either.js";
import type { ChunkedResponseSealer } from "../ohttp/chunkedResponse.ts";

const EMPTY = new Uint8Array(0);

const unwrapOrThrow = (sealed: E.Either<{ message: string }, Uint8Array>): Uint8Array => {
  if (E.isLeft(sealed)) throw new Error(sealed.left.message);
  return sealed.right;
};

/** The sealed stream of `body`, sealing each piece as it arrives; cancelling cancels `body`. */
export const sealedStream = (
  body: ReadableStream<Uint8Array> | null,
  sealer: ChunkedResponseSealer,
): ReadableStream<Uint8Array> => {
  const reader = body?.getReader();
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(sealer.nonce);
    },
    async pull(controller) {
      const next = reader ? await reader.read() : { done: true as const, value: undefined };
      if (next.done) {
        controller.enqueue(unwrapOrThrow(await sealer.final(EMPTY)));
        controller.close();
      } else if (next.value.length > 0) {
        controller.enqueue(unwrapOrThrow(await sealer.chunk(next.value)));
      }
    },
    cancel: (reason) => reader?.cancel(reason),
  });
};

/** The whole of `body` (at most `maxBytes`, the rest dropped) sealed as one final chunk. */
export const sealedWhole = async (
  body: ReadableStream<Uint8Array> | null,
  sealer: ChunkedResponseSealer,
  maxBytes: number,
): Promise<Uint8Array<ArrayBuffer>> => {
  const { bytes } = await readAtMost(body, maxBytes);
  const final = unwrapOrThrow(await sealer.final(bytes));
  const out = new Uint8Array(sealer.nonce.length + final.length);
  out.set(sealer.nonce);
  out.set(final, sealer.nonce.length);
  return out;
};

/** What {@link readAtMost} read: the bytes, and whether they are the whole stream. */
export interface BoundedRead {
  readonly bytes: Uint8Array;
  readonly complete: boolean;
}

/**
 * Up to `maxBytes` of a stream; the stream is cancelled when there is more, so that an endless
 * body cannot exhaust the gateway's memory.
 */
export const readAtMost = async (
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
): Promise<BoundedRead> => {
  if (!body) return { bytes: EMPTY, complete: true };
  const parts: Uint8Array[] = [];
  let length = 0;
  let complete = true;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (length + value.length > maxBytes) {
      parts.push(value.subarray(0, maxBytes - length));
      length = maxBytes;
      complete = false;
      await reader.cancel();
      break;
    }
    parts.push(value);
    length += value.length;
  }
  const bytes = new Uint8Array(length);
  parts.reduce((at, p) => (bytes.set(p, at), at + p.length), 0);
  return { bytes, complete };
};
