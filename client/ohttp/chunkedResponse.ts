/**
 * OHTTP response protection: the RFC 9458 §4.4 key schedule, and the response framing of the real
 * OHTTP client and server (microsoft/attested-ohttp-server).
 *
 * The peers' framing is not draft-ietf-ohai-chunked-ohttp: the keys come from the standard
 * "message/bhttp response" export, chunk lengths are LEB128 (not QUIC varints), and the body is
 *
 *     response_nonce ‖ (LEB128(len) ‖ ct)* ‖ 0x00 ‖ LEB128(len) ‖ ct
 *
 * where chunk i is sealed with nonce `nonce_base XOR i`, aad "" and the last one with aad "final".
 * A standard RFC 9458 response is the degenerate case: one chunk, seq 0, aad "", no framing.
 */
import * as E from "fp-ts/lib/Either.js";
import { hkdfSync } from "node:crypto";
import { aesGcm, sequenceNonce } from "./aesGcm.ts";
import { concat, utf8 } from "../../core/bytes.ts";
import type { Either } from "../../core/either.ts";
import { internal, invalidInput, type KmsError } from "../../core/errors.ts";
import type { HpkeSuite } from "./suite.ts";

/** Length of an AES-GCM tag: every sealed chunk is at least this long. */
export const TAG_LENGTH = 16;

const KEY_LABEL = utf8("key");
const NONCE_LABEL = utf8("nonce");
const AAD_CHUNK = new Uint8Array(0);
const AAD_FINAL = utf8("final");
/** LEB128 groups accepted in a chunk length: 7 × 7 = 49 bits keeps every value a safe integer. */
const MAX_LEB128_BYTES = 7;
/**
 * Longest sealed chunk a reader accepts. AES-GCM opens a chunk only whole, so a chunk is buffered
 * until it is complete, and its length prefix is not authenticated: without a bound, anyone on
 * the path could make a client buffer without end. The peers seal each read of the target's
 * body (a few KiB) as one chunk, so this leaves ample room.
 */
export const MAX_CHUNK_BYTES = 16 * 1024 * 1024;

/** max(Nk, Nn): the length of the response nonce and of the exported secret. */
export const responseNonceLength = (suite: HpkeSuite): number =>
  Math.max(suite.keyLength, suite.nonceLength);

/** The AEAD of one response, with the per-chunk nonce `nonce_base XOR seq`. */
export interface ResponseCipher {
  seal(seq: number, aad: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array>;
  /** Undefined when the tag does not verify. */
  open(seq: number, aad: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array | undefined>;
}

/**
 * The response key schedule of RFC 9458 §4.4 (the peers use it unchanged):
 * `prk = Extract(enc ‖ response_nonce, secret)`, `key = Expand(prk, "key", Nk)`,
 * `nonce_base = Expand(prk, "nonce", Nn)`, where `secret = Export("message/bhttp response",
 * max(Nk, Nn))` of the request's HPKE context.
 */
export const responseCipher = async (
  suite: HpkeSuite,
  secret: Uint8Array,
  enc: Uint8Array,
  responseNonce: Uint8Array,
): Promise<ResponseCipher> => {
  // Two whole HKDFs on node:crypto's native hkdfSync (extracting twice) cost less than one
  // extract and two expands on @noble/hashes: 13 µs against 31 µs (BENCHMARKS.md).
  const salt = concat(enc, responseNonce);
  const nonceBase = new Uint8Array(
    hkdfSync(suite.digest, secret, salt, NONCE_LABEL, suite.nonceLength),
  );
  const cipher = aesGcm(
    new Uint8Array(hkdfSync(suite.digest, secret, salt, KEY_LABEL, suite.keyLength)),
  );
  return await Promise.resolve({
    seal: (seq, aad, plaintext) => cipher.seal(sequenceNonce(nonceBase, seq), aad, plaintext),
    open: (seq, aad, ciphertext) => cipher.open(sequenceNonce(nonceBase, seq), aad, ciphertext),
  });
};

/** LEB128 of a non-negative safe integer: 7 bits a byte, least significant first. */
export const encodeLeb128 = (value: number): Uint8Array => {
  const out: number[] = [];
  let v = value;
  do {
    const low = v % 128;
    v = Math.floor(v / 128);
    out.push(v > 0 ? low | 0x80 : low);
  } while (v > 0);
  return Uint8Array.from(out);
};

/**
 * Reads a LEB128 integer at `at`: its value and the offset after it, or `undefined` when the
 * input ends inside it (a stream may bring the rest later).
 */
export const readLeb128 = (
  bytes: Uint8Array,
  at: number,
): E.Either<KmsError, { readonly value: number; readonly next: number } | undefined> => {
  let value = 0;
  for (let i = 0; i < MAX_LEB128_BYTES; i++) {
    if (at + i >= bytes.length) return E.right(undefined);
    const b = bytes[at + i];
    value += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) return E.right({ value, next: at + i + 1 });
  }
  return E.left(invalidInput(`chunk length is longer than ${MAX_LEB128_BYTES} LEB128 bytes`));
};

/** Seals a response chunk by chunk, as a gateway streams its target's body. */
export interface ChunkedResponseSealer {
  /** The response nonce: the first bytes of the body, to send before any chunk. */
  readonly nonce: Uint8Array;
  /** `LEB128(len) ‖ ct` for a non-final chunk; a Left once the final chunk is sealed. */
  chunk(plaintext: Uint8Array): Promise<Either<KmsError, Uint8Array>>;
  /** `0x00 ‖ LEB128(len) ‖ ct` with aad "final"; nothing can be sealed after it. */
  final(plaintext: Uint8Array): Promise<Either<KmsError, Uint8Array>>;
}

/** A sealer over a response cipher; the sequence number is taken at call time, so order is kept. */
export const chunkedResponseSealer = (
  cipher: ResponseCipher,
  nonce: Uint8Array,
): ChunkedResponseSealer => {
  let seq = 0;
  let finished = false;
  const seal = async (plaintext: Uint8Array, last: boolean) => {
    if (finished) {
      return E.left(invalidInput("the final chunk of this response is already sealed"));
    }
    finished = last;
    const mySeq = seq++;
    try {
      const ct = await cipher.seal(mySeq, last ? AAD_FINAL : AAD_CHUNK, plaintext);
      const framed = concat(encodeLeb128(ct.length), ct);
      return E.right(last ? concat(Uint8Array.of(0), framed) : framed);
    } catch {
      return E.left(internal("AES-GCM sealing of a response chunk failed"));
    }
  };
  return {
    nonce,
    chunk: (plaintext) => seal(plaintext, false),
    final: (plaintext) => seal(plaintext, true),
  };
};

/**
 * The whole chunked body: the nonce, then every chunk, the last one final. No chunks at all is
 * sent as one empty final chunk, so that the client still sees where the response ends.
 */
export const sealChunks = async (
  sealer: ChunkedResponseSealer,
  chunks: readonly Uint8Array[],
): Promise<E.Either<KmsError, Uint8Array>> => {
  const parts = [sealer.nonce];
  const last = chunks.length === 0 ? new Uint8Array(0) : chunks[chunks.length - 1];
  for (const chunk of chunks.slice(0, -1)) {
    const sealed = await sealer.chunk(chunk);
    if (E.isLeft(sealed)) return sealed;
    parts.push(sealed.right);
  }
  const sealed = await sealer.final(last);
  return E.isLeft(sealed) ? sealed : E.right(concat(...parts, sealed.right));
};

/** Reads a chunked response as it arrives and opens each complete chunk. */
export interface ChunkedResponseReader {
  /**
   * Feeds the next bytes of the body; answers the plaintext of every chunk they complete. Calls are
   * serialised. After a Left the reader is broken and answers that Left again.
   */
  push(bytes: Uint8Array): Promise<Either<KmsError, Uint8Array[]>>;
  /** Checks, at the end of the body, that the final chunk came and nothing is left over. */
  end(): Promise<Either<KmsError, void>>;
}

/**
 * A reader for a response to the request whose context made `cipherFor`: it is called once, with
 * the response nonce, when that many bytes have arrived.
 */
export const chunkedResponseReader = (
  nonceLength: number,
  cipherFor: (responseNonce: Uint8Array) => Promise<ResponseCipher>,
): ChunkedResponseReader => {
  // The unparsed bytes, kept as received and joined only when they may complete the next item
  // (`needed` bytes), so that a chunk arriving in many reads is copied once, not once per read.
  let parts: Uint8Array[] = [];
  let buffered = 0;
  let needed = nonceLength;
  let cipher: ResponseCipher | undefined;
  let seq = 0;
  let finished = false;
  let failure: KmsError | undefined;
  let queue: Promise<unknown> = Promise.resolve();

  const fail = (message: string): E.Either<KmsError, never> => {
    failure = invalidInput(`chunked OHTTP response: ${message}`);
    return E.left(failure);
  };

  const step = async (bytes: Uint8Array): Promise<E.Either<KmsError, Uint8Array[]>> => {
    if (failure) return E.left(failure);
    if (finished) {
      return bytes.length === 0 ? E.right([]) : fail(
        `${bytes.length} bytes of trailing data after the final chunk`,
      );
    }
    parts.push(bytes);
    buffered += bytes.length;
    if (buffered < needed) return E.right([]);
    let pending = parts.length === 1 ? parts[0] : concat(...parts);
    if (!cipher) {
      try {
        cipher = await cipherFor(pending.slice(0, nonceLength));
      } catch {
        return fail("the response keys could not be derived");
      }
      pending = pending.subarray(nonceLength);
    }
    const opened: Uint8Array[] = [];
    let at = 0;
    needed = 0;
    while (at < pending.length) {
      const first = readLeb128(pending, at);
      if (E.isLeft(first)) return fail(first.left.message);
      const last = first.right?.value === 0;
      const length = last && first.right ? readLeb128(pending, first.right.next) : first;
      if (E.isLeft(length)) return fail(length.left.message);
      if (!length.right) {
        // The length ends beyond the bytes at hand: wait for at least one more.
        needed = pending.length - at + 1;
        break;
      }
      if (length.right.value < TAG_LENGTH) {
        return fail(
          `chunk ${seq} is ${length.right.value} bytes, shorter than the ${TAG_LENGTH}-byte tag`,
        );
      }
      if (length.right.value > MAX_CHUNK_BYTES) {
        return fail(
          `chunk ${seq} is ${length.right.value} bytes, longer than the ${MAX_CHUNK_BYTES} accepted`,
        );
      }
      const end = length.right.next + length.right.value;
      if (end > pending.length) {
        needed = end - at;
        break;
      }
      const pt = await cipher.open(
        seq,
        last ? AAD_FINAL : AAD_CHUNK,
        pending.subarray(length.right.next, end),
      );
      if (!pt) {
        return fail(`chunk ${seq}${last ? " (final)" : ""} failed authentication`);
      }
      opened.push(pt);
      seq++;
      at = end;
      if (last) {
        finished = true;
        if (at < pending.length) {
          return fail(`${pending.length - at} bytes of trailing data after the final chunk`);
        }
      }
    }
    const rest = pending.slice(at);
    parts = rest.length > 0 ? [rest] : [];
    buffered = rest.length;
    return E.right(opened);
  };

  const serialised = <A>(run: () => A | Promise<A>): Promise<A> => {
    const result = queue.then(run);
    queue = result.catch(() => undefined);
    return result;
  };

  return {
    push: (bytes) => serialised(() => step(bytes)),
    end: () =>
      serialised((): E.Either<KmsError, void> => {
        if (failure) return E.left(failure);
        if (!cipher) {
          return fail(`truncated: ${buffered} bytes, shorter than the response nonce`);
        }
        return finished ? E.right(undefined) : fail(
          buffered === 0
            ? "the final chunk is missing"
            : `truncated: the body ends inside chunk ${seq}`,
        );
      }),
  };
};
