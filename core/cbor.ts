/**
 * A minimal CBOR (RFC 8949) writer and reader, just enough for the private key release format.
 *
 * Hand-written on purpose: the `cborg` library runs `new TextDecoder()` / `new TextEncoder()` when
 * its modules load, and CCF's QuickJS has neither, so importing it would break the whole app.
 * It covers integers, byte strings and map heads with definite lengths and shortest ("preferred",
 * RFC 8949 §4.2.1) arguments; the reader rejects everything else, so that a value has exactly one
 * accepted encoding.
 */
import * as E from "fp-ts/lib/Either.js";
import { concat } from "./bytes.ts";
import { invalidInput, type KmsError } from "./errors.ts";

/** The CBOR major types this module reads or writes. */
export const MajorType = {
  UNSIGNED: 0,
  NEGATIVE: 1,
  BYTES: 2,
  MAP: 5,
} as const;

/** The head of one item: major type, argument, and the offset just after the head. */
export interface CborHead {
  readonly major: number;
  readonly argument: number;
  readonly end: number;
}

/** A decoded integer or byte string, and the offset just after it. */
export interface CborScalar {
  readonly value: number | Uint8Array;
  readonly end: number;
}

/** Bytes after the initial byte that the shortest encoding of `n` takes. */
const argumentSize = (n: number): number =>
  n < 24 ? 0 : n < 0x100 ? 1 : n < 0x10000 ? 2 : n < 0x100000000 ? 4 : 8;

/** Additional information that announces an argument of 1, 2, 4 or 8 bytes. */
const INFO_OF_SIZE: Readonly<Record<number, number>> = { 1: 24, 2: 25, 4: 26, 8: 27 };

/** The head of an item; `argument` must be a non-negative safe integer. */
export const encodeHead = (major: number, argument: number): Uint8Array => {
  const size = argumentSize(argument);
  const out = new Uint8Array(1 + size);
  out[0] = (major << 5) | (size === 0 ? argument : INFO_OF_SIZE[size]);
  for (let i = size, v = argument; i > 0; i--, v = Math.floor(v / 256)) {
    out[i] = v % 256;
  }
  return out;
};

/** A safe integer: major type 0 when non-negative, 1 (encoding `-1 - n`) when negative. */
export const encodeInt = (n: number): Uint8Array =>
  n >= 0 ? encodeHead(MajorType.UNSIGNED, n) : encodeHead(MajorType.NEGATIVE, -1 - n);

/** A definite-length byte string. */
export const encodeBytes = (bytes: Uint8Array): Uint8Array =>
  concat(encodeHead(MajorType.BYTES, bytes.length), bytes);

const truncated = (at: number): E.Either<KmsError, never> =>
  E.left(invalidInput(`CBOR is truncated: the item at byte ${at} is cut off`));

/**
 * The head at offset `at`. Rejects truncation, indefinite lengths, reserved additional
 * information and arguments not in their shortest form.
 */
export const readHead = (
  bytes: Uint8Array,
  at: number,
): E.Either<KmsError, CborHead> => {
  if (at >= bytes.length) return truncated(at);
  const major = bytes[at] >> 5;
  const info = bytes[at] & 31;
  if (info < 24) return E.right({ major, argument: info, end: at + 1 });
  if (info === 31) {
    return E.left(invalidInput(
      `CBOR item at byte ${at} has an indefinite length; use definite lengths`,
    ));
  }
  if (info > 27) {
    return E.left(invalidInput(
      `CBOR item at byte ${at} uses reserved additional information ${info}`,
    ));
  }
  const size = 1 << (info - 24);
  const end = at + 1 + size;
  if (end > bytes.length) return truncated(at);
  let argument = 0;
  for (let i = at + 1; i < end; i++) argument = argument * 256 + bytes[i];
  return argumentSize(argument) === size ? E.right({ major, argument, end }) : E.left(invalidInput(
    `CBOR item at byte ${at} does not encode ${argument} in its shortest form`,
  ));
};

/** The integer or byte string at offset `at` (a copy of the bytes); any other item is rejected. */
export const readScalar = (
  bytes: Uint8Array,
  at: number,
): E.Either<KmsError, CborScalar> => {
  const head = readHead(bytes, at);
  if (E.isLeft(head)) return head;
  const { major, argument, end } = head.right;
  switch (major) {
    case MajorType.UNSIGNED:
      return E.right({ value: argument, end });
    case MajorType.NEGATIVE:
      return E.right({ value: -1 - argument, end });
    case MajorType.BYTES:
      return end + argument > bytes.length ? truncated(at) : E.right({
        value: bytes.slice(end, end + argument),
        end: end + argument,
      });
    default:
      return E.left(invalidInput(
        `CBOR item at byte ${at} has major type ${major}; expected an integer or a byte string`,
      ));
  }
};
