/**
 * Known-length binary HTTP messages (RFC 9292): the plaintext inside an OHTTP request and response.
 *
 * Integers are QUIC variable-length integers (RFC 9000 §16), unlike the LEB128 of the peers'
 * chunk framing. Field names and values, method, scheme, authority and path are byte strings; they
 * are held as Latin-1 strings (one char per byte, as the Fetch API's ByteString), which keeps every
 * byte intact. The encoder omits trailing empty sections (RFC 9292 §3.8), which gives the short
 * forms of the RFC 9458 examples; the decoder takes missing sections as empty and zero padding.
 * Indeterminate-length messages (framing 2 and 3) are refused: the peers send known-length only.
 */
import * as E from "fp-ts/lib/Either.js";
import { concat } from "../../core/bytes.ts";
import { invalidInput, type KmsError } from "../../core/errors.ts";

/** One field line: name and value. */
export type Field = readonly [name: string, value: string];

/** A request; `trailers` may be left out when empty. */
export interface BhttpRequest {
  /** The method, e.g. `POST`. */
  readonly method: string;
  /** The scheme, e.g. `https`. */
  readonly scheme: string;
  /** The host (and port) the request is for; may be empty, as in the real client's requests. */
  readonly authority: string;
  /** The path and any query, e.g. `/stream?pieces=5`. */
  readonly path: string;
  /** Header fields, in order, as Latin-1 strings like every field here. */
  readonly headers: readonly Field[];
  /** The body, empty for none. */
  readonly content: Uint8Array;
  /** Trailer fields, in order. */
  readonly trailers?: readonly Field[];
}

/** An interim (1xx) response that precedes the final one. */
export interface InformationalResponse {
  /** The status code, 100..199. */
  readonly status: number;
  /** Its header fields, in order. */
  readonly headers: readonly Field[];
}

/** A response; `informational` and `trailers` may be left out when empty. */
export interface BhttpResponse {
  /** The interim responses, in the order they were sent. */
  readonly informational?: readonly InformationalResponse[];
  /** The final status code, 200..599. */
  readonly status: number;
  /** Header fields, in order. */
  readonly headers: readonly Field[];
  /** The body, empty for none. */
  readonly content: Uint8Array;
  /** Trailer fields, in order. */
  readonly trailers?: readonly Field[];
}

const KNOWN_LENGTH_REQUEST = 0;
const KNOWN_LENGTH_RESPONSE = 1;
/** QUIC varints reach 2^62; JavaScript numbers are exact only up to 2^53. */
const MAX_VARINT = Number.MAX_SAFE_INTEGER;

const fail = (message: string): E.Either<KmsError, never> =>
  E.left(invalidInput(`binary HTTP: ${message}`));

/** A QUIC varint: 1, 2, 4 or 8 bytes, its length in the top two bits of the first. */
export const encodeVarint = (n: number): Uint8Array => {
  if (n < 0x40) return Uint8Array.of(n);
  if (n < 0x4000) return Uint8Array.of(0x40 | (n >> 8), n & 0xff);
  if (n < 0x40000000) {
    return Uint8Array.of(0x80 | (n >>> 24), (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  }
  const high = Math.floor(n / 2 ** 32);
  const low = n >>> 0;
  return Uint8Array.of(
    0xc0 | (high >>> 24),
    (high >>> 16) & 0xff,
    (high >>> 8) & 0xff,
    high & 0xff,
    low >>> 24,
    (low >>> 16) & 0xff,
    (low >>> 8) & 0xff,
    low & 0xff,
  );
};

const latin1Bytes = (s: string, what: string): E.Either<KmsError, Uint8Array> => {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) {
      return fail(`${what} has a character above U+00FF at index ${i}; encode it as bytes first`);
    }
    out[i] = c;
  }
  return E.right(out);
};

const latin1String = (bytes: Uint8Array): string => {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
};

const withLength = (bytes: Uint8Array): Uint8Array => concat(encodeVarint(bytes.length), bytes);

const encodeString = (s: string, what: string): E.Either<KmsError, Uint8Array> => {
  const bytes = latin1Bytes(s, what);
  return E.isLeft(bytes) ? bytes : E.right(withLength(bytes.right));
};

const encodeFields = (fields: readonly Field[], what: string): E.Either<KmsError, Uint8Array> => {
  const lines: Uint8Array[] = [];
  for (const [i, [name, value]] of fields.entries()) {
    const n = encodeString(name, `${what} ${i} name`);
    if (E.isLeft(n)) return n;
    const v = encodeString(value, `${what} ${i} value`);
    if (E.isLeft(v)) return v;
    lines.push(n.right, v.right);
  }
  return E.right(withLength(concat(...lines)));
};

const checkStatus = (
  status: number,
  min: number,
  max: number,
  what: string,
): E.Either<KmsError, number> =>
  Number.isInteger(status) && status >= min && status <= max
    ? E.right(status)
    : fail(`${what} status must be ${min}..${max}, got ${status}`);

/**
 * Encodes the sections that follow the control data, dropping the trailing ones that are empty.
 */
const encodeBody = (
  headers: readonly Field[],
  content: Uint8Array,
  trailers: readonly Field[],
): E.Either<KmsError, Uint8Array> => {
  const h = encodeFields(headers, "header");
  if (E.isLeft(h)) return h;
  const t = encodeFields(trailers, "trailer");
  if (E.isLeft(t)) return t;
  const sections = [h.right, withLength(content), t.right];
  const empty = [headers.length === 0, content.length === 0, trailers.length === 0];
  let keep = sections.length;
  while (keep > 0 && empty[keep - 1]) keep--;
  return E.right(concat(...sections.slice(0, keep)));
};

const gatherAll = (
  parts: readonly E.Either<KmsError, Uint8Array>[],
): E.Either<KmsError, Uint8Array> => {
  const out: Uint8Array[] = [];
  for (const p of parts) {
    if (E.isLeft(p)) return p;
    out.push(p.right);
  }
  return E.right(concat(...out));
};

/** Encodes a known-length request (framing indicator 0). */
export const encodeRequest = (r: BhttpRequest): E.Either<KmsError, Uint8Array> =>
  gatherAll([
    E.right(encodeVarint(KNOWN_LENGTH_REQUEST)),
    encodeString(r.method, "method"),
    encodeString(r.scheme, "scheme"),
    encodeString(r.authority, "authority"),
    encodeString(r.path, "path"),
    encodeBody(r.headers, r.content, r.trailers ?? []),
  ]);

/** Encodes a known-length response (framing indicator 1), interim responses first. */
export const encodeResponse = (r: BhttpResponse): E.Either<KmsError, Uint8Array> =>
  gatherAll([
    E.right(encodeVarint(KNOWN_LENGTH_RESPONSE)),
    ...(r.informational ?? []).flatMap((i) => [
      E.map(encodeVarint)(checkStatus(i.status, 100, 199, "informational")),
      encodeFields(i.headers, "informational header"),
    ]),
    E.map(encodeVarint)(checkStatus(r.status, 200, 599, "final")),
    encodeBody(r.headers, r.content, r.trailers ?? []),
  ]);

/** A cursor over the message; every read is checked against the end. */
class Reader {
  at = 0;
  constructor(readonly bytes: Uint8Array) {}

  get done(): boolean {
    return this.at >= this.bytes.length;
  }

  varint(what: string): E.Either<KmsError, number> {
    if (this.done) return fail(`truncated: the message ends before the ${what}`);
    const first = this.bytes[this.at];
    const length = 1 << (first >> 6);
    if (this.at + length > this.bytes.length) {
      return fail(`truncated: the message ends inside the ${what}`);
    }
    let value = first & 0x3f;
    for (let i = 1; i < length; i++) value = value * 256 + this.bytes[this.at + i];
    if (value > MAX_VARINT) return fail(`${what} ${value} is too large`);
    this.at += length;
    return E.right(value);
  }

  bytesOf(what: string): E.Either<KmsError, Uint8Array> {
    const length = this.varint(`length of the ${what}`);
    if (E.isLeft(length)) return length;
    const end = this.at + length.right;
    if (end > this.bytes.length) {
      return fail(
        `truncated: the ${what} declares ${length.right} bytes, only ${
          this.bytes.length - this.at
        } remain`,
      );
    }
    const out = this.bytes.slice(this.at, end);
    this.at = end;
    return E.right(out);
  }

  string(what: string): E.Either<KmsError, string> {
    return E.map(latin1String)(this.bytesOf(what));
  }

  fields(what: string): E.Either<KmsError, Field[]> {
    const section = this.bytesOf(what);
    if (E.isLeft(section)) return section;
    const inner = new Reader(section.right);
    const fields: Field[] = [];
    while (!inner.done) {
      const name = inner.string(`${what} field ${fields.length} name`);
      if (E.isLeft(name)) return name;
      const value = inner.string(`${what} field ${fields.length} value`);
      if (E.isLeft(value)) return value;
      fields.push([name.right, value.right]);
    }
    return E.right(fields);
  }

  /** The sections after the control data; a section the message stops before is empty. */
  body(): E.Either<
    KmsError,
    { headers: Field[]; content: Uint8Array; trailers: Field[] }
  > {
    const headers = this.done ? E.right([]) : this.fields("header section");
    if (E.isLeft(headers)) return headers;
    const content = this.done ? E.right(new Uint8Array(0)) : this.bytesOf("content");
    if (E.isLeft(content)) return content;
    const trailers = this.done ? E.right([]) : this.fields("trailer section");
    if (E.isLeft(trailers)) return trailers;
    for (let i = this.at; i < this.bytes.length; i++) {
      if (this.bytes[i] !== 0) {
        return fail(`${this.bytes.length - this.at} bytes after the message are not zero padding`);
      }
    }
    return E.right({ headers: headers.right, content: content.right, trailers: trailers.right });
  }
}

const framing = (r: Reader, expected: number, what: string): E.Either<KmsError, void> => {
  const f = r.varint("framing indicator");
  if (E.isLeft(f)) return f;
  if (f.right === expected) return E.right(undefined);
  if (f.right === expected + 2) {
    return fail(`indeterminate-length ${what}s (framing ${f.right}) are not supported`);
  }
  return fail(`framing indicator ${f.right} is not a known-length ${what} (${expected})`);
};

/** Decodes a known-length request. */
export const decodeRequest = (bytes: Uint8Array): E.Either<KmsError, BhttpRequest> => {
  const r = new Reader(bytes);
  const f = framing(r, KNOWN_LENGTH_REQUEST, "request");
  if (E.isLeft(f)) return f;
  const method = r.string("method");
  if (E.isLeft(method)) return method;
  const scheme = r.string("scheme");
  if (E.isLeft(scheme)) return scheme;
  const authority = r.string("authority");
  if (E.isLeft(authority)) return authority;
  const path = r.string("path");
  if (E.isLeft(path)) return path;
  return E.map((body: { headers: Field[]; content: Uint8Array; trailers: Field[] }) => ({
    method: method.right,
    scheme: scheme.right,
    authority: authority.right,
    path: path.right,
    ...body,
  }))(r.body());
};

/** Decodes a known-length response, with its interim responses. */
export const decodeResponse = (bytes: Uint8Array): E.Either<KmsError, BhttpResponse> => {
  const r = new Reader(bytes);
  const f = framing(r, KNOWN_LENGTH_RESPONSE, "response");
  if (E.isLeft(f)) return f;
  const informational: InformationalResponse[] = [];
  for (;;) {
    const status = r.varint("status code");
    if (E.isLeft(status)) return status;
    if (status.right >= 100 && status.right <= 199) {
      const headers = r.fields(`informational response ${status.right} header section`);
      if (E.isLeft(headers)) return headers;
      informational.push({ status: status.right, headers: headers.right });
      continue;
    }
    const final = checkStatus(status.right, 200, 599, "final");
    if (E.isLeft(final)) return final;
    return E.map((body: { headers: Field[]; content: Uint8Array; trailers: Field[] }) => ({
      informational,
      status: final.right,
      ...body,
    }))(r.body());
  }
};
