/**
 * The canonical byte form of a transaction's write set, and its digest.
 *
 * ```
 * writeSet = u32(count) ‖ write × count
 * write    = u32(len map) ‖ utf8(map) ‖ u32(len key) ‖ key ‖ (0x00 | 0x01 ‖ u32(len value) ‖ value)
 * ```
 *
 * Integers are big-endian; tag 0x00 is a deletion, 0x01 a write. Writes are ordered by map name
 * (UTF-16 code units, as `Array.prototype.sort` orders strings), then by key bytes — the order
 * {@link KvStore.commit} already produces — and a (map, key) pair appears at most once. Every
 * field is length-prefixed, so the encoding is injective: two write sets share a digest only if
 * they are equal. The ledger digests the plaintext write set with it (the `write_set_digest` of
 * receipts) and encrypts the private part of a transaction in the same form.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { compareBytes, type KvWrite } from "../kv.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

// A lone surrogate would be encoded as U+FFFD, making two distinct names collide.
const WELL_FORMED = /^(?:[^\ud800-\udfff]|[\ud800-\udbff][\udc00-\udfff])*$/;

const compareWrites = (a: KvWrite, b: KvWrite): number =>
  a.map < b.map ? -1 : a.map > b.map ? 1 : compareBytes(a.key, b.key);

/** The writes in canonical order; throws if a (map, key) pair is written twice. */
export const canonicalWrites = (writes: readonly KvWrite[]): KvWrite[] => {
  const sorted = [...writes].sort(compareWrites);
  for (let i = 1; i < sorted.length; i++) {
    if (compareWrites(sorted[i - 1], sorted[i]) === 0) {
      throw new Error(`The write set writes one key of map '${sorted[i].map}' twice`);
    }
  }
  return sorted;
};

/** The canonical encoding of a write set (sorted first, see the module documentation). */
export const encodeWriteSet = (writes: readonly KvWrite[]): Uint8Array => {
  const rows = canonicalWrites(writes).map((w) => {
    if (!WELL_FORMED.test(w.map)) throw new Error("A map name is not well-formed Unicode");
    return { ...w, name: encoder.encode(w.map) };
  });
  const size = rows.reduce(
    (n, w) => n + 4 + w.name.length + 4 + w.key.length + 1 + (w.value ? 4 + w.value.length : 0),
    4,
  );
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  const bytes = (b: Uint8Array) => {
    view.setUint32(at, b.length);
    out.set(b, at + 4);
    at += 4 + b.length;
  };
  view.setUint32(at, rows.length);
  at += 4;
  for (const w of rows) {
    bytes(w.name);
    bytes(w.key);
    out[at++] = w.value === null ? 0 : 1;
    if (w.value !== null) bytes(w.value);
  }
  return out;
};

/** Decodes {@link encodeWriteSet}'s output; throws on anything else, including a non-canonical order. */
export const decodeWriteSet = (bytes: Uint8Array): KvWrite[] => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const need = (n: number) => {
    if (at + n > bytes.length) throw new Error("The write set encoding is truncated");
  };
  const u32 = () => {
    need(4);
    at += 4;
    return view.getUint32(at - 4);
  };
  const field = () => {
    const n = u32();
    need(n);
    at += n;
    return bytes.slice(at - n, at);
  };
  const count = u32();
  const writes: KvWrite[] = [];
  for (let i = 0; i < count; i++) {
    const map = decoder.decode(field());
    const key = field();
    need(1);
    const tag = bytes[at++];
    if (tag > 1) throw new Error(`Unknown write tag ${tag} in the write set encoding`);
    writes.push({ map, key, value: tag === 1 ? field() : null });
  }
  if (at !== bytes.length) throw new Error("Trailing bytes after the write set encoding");
  const canonical = canonicalWrites(writes);
  if (canonical.some((w, i) => w !== writes[i])) {
    throw new Error("The write set encoding is not in canonical order");
  }
  return writes;
};

/** The `write_set_digest` of a transaction: SHA-256 of its canonical write-set encoding. */
export const writeSetDigest = (writes: readonly KvWrite[]): Uint8Array =>
  sha256(encodeWriteSet(writes));
