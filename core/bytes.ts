/** Byte helpers shared by the core's codecs; total functions that report bad input as errors. */
import * as E from "fp-ts/lib/Either.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { invalidInput, type KmsError } from "./errors.ts";

/** Lowercase hex of bytes. */
export const toHex = (bytes: Uint8Array): string => bytesToHex(bytes);

/** Bytes of a hex string of even length (either case); `what` names the field in the error. */
export const fromHex = (
  hex: string,
  what: string,
): E.Either<KmsError, Uint8Array> =>
  /^(?:[0-9a-fA-F]{2})*$/.test(hex)
    ? E.right(hexToBytes(hex))
    : E.left(invalidInput(`${what} must be hex of even length`));

/** Concatenation of byte arrays. */
export const concat = (...parts: readonly Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
};

/** Byte-wise equality (not constant time: use only on public data). */
export const equal = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * UTF-8 bytes of a string without TextEncoder, which QuickJS lacks. Not total: a lone surrogate
 * has no UTF-8 form and throws a URIError, so decode untrusted text as well-formed first.
 */
export const utf8 = (s: string): Uint8Array => {
  const bin = unescape(encodeURIComponent(s));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
};
