/**
 * The ledger's on-disk form: one JSON object per line, appended, in a directory of its own.
 *
 * ```
 * <dir>/ledger.secret   {"version":1,"ledger_secret":"<base64 of 32 bytes>"}        mode 0600
 * <dir>/ledger.signed   {"signed":<seqno>}, padded to 32 bytes                     see below
 * <dir>/ledger.jsonl    {"format":"ccf-sandbox-ledger","version":2}                 header line
 *                       {"seqno":1,"view":2,
 *                        "public":[{"map":"public:…","key":"<b64>","value":"<b64>"|null}, …],
 *                        "private":"<b64 of AES-256-GCM nonce ‖ ciphertext ‖ tag>",   if any
 *                        "claims_digest":"<hex>",                                     if set
 *                        "signature":{seqno,view,root,signature,cert,node_id}}        if one
 *                       …one line per transaction, seqnos consecutive from 1
 * ```
 *
 * Public writes are stored in the clear (base64 keeps any byte string intact). Private writes
 * (maps whose names do not start with `public:`) are encoded together as one write set
 * (writeSet.ts) and sealed under the ledger secret, so not even their map names are visible.
 * `signature` repeats, readably, the record that the signature transaction writes to
 * `public:ccf.internal.signatures`; replay checks that both agree. Commit evidence is not stored:
 * it is derived again from the secret.
 *
 * `ledger.signed` holds the seqno of the last signature transaction written, rewritten in place
 * (one 32-byte write, never torn in practice) after the ledger's fsync of that signature. It is
 * how replay tells a crash (a torn or unsigned tail after the last signature) from damage or a
 * truncation of the signed part, which the file alone cannot show. It is fsynced after the ledger,
 * so a crash between the two leaves it behind the ledger, never ahead of it.
 *
 * Version 2 ledgers record every signing node in `public:ccf.gov.nodes.endorsed_certificates`
 * before its first signature; version 1 ledgers did not, so their signatures cannot be checked.
 */
import { base64 } from "@scure/base";
import type { KvWrite } from "../kv.ts";
import { canonicalWrites, decodeWriteSet, encodeWriteSet } from "./writeSet.ts";
import type { LedgerSecret } from "./secrets.ts";
import { asSignatureRecord, type SignatureRecord } from "./signature.ts";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { readStateField } from "../stateFile.ts";

/** Name of the ledger file in the ledger directory. */
export const LEDGER_FILE = "ledger.jsonl";
/** Name of the ledger secret file in the ledger directory. */
export const SECRET_FILE = "ledger.secret";

/** Name of the file that holds the seqno of the last signature written. */
export const SIGNED_FILE = "ledger.signed";

/** The first line of every ledger file. */
export const HEADER_LINE = '{"format":"ccf-sandbox-ledger","version":2}\n';
/** The first line of a ledger written before signing nodes were recorded. */
export const VERSION_1_HEADER_LINE = '{"format":"ccf-sandbox-ledger","version":1}\n';

/** One transaction as the ledger file holds it, with its private writes in the clear. */
export interface StoredEntry {
  readonly seqno: number;
  readonly view: number;
  /** Every write, public and private, in canonical order (writeSet.ts). */
  readonly writes: readonly KvWrite[];
  readonly claimsDigest?: Uint8Array;
  /** Present on signature transactions. */
  readonly signature?: SignatureRecord;
}

/** A line of the file, by byte offsets. */
export interface Line {
  /** Offset of its first byte. */
  readonly start: number;
  /** Offset just past its newline, or the end of the file when it has none. */
  readonly end: number;
  /** Whether it ends with a newline: a line without one was torn by a crash. */
  readonly terminated: boolean;
}

const PUBLIC_PREFIX = "public:";
const HASH_HEX = /^[0-9a-f]{64}$/;
const ENTRY_FIELDS = new Set(["seqno", "view", "public", "private", "claims_digest", "signature"]);
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Whether `map` is public (stored in the clear), as CCF decides by its name. */
const isPublicMap = (map: string): boolean => map.startsWith(PUBLIC_PREFIX);

/** The JSON line (with its newline) of `entry`; private writes are sealed with `secret`. */
export const encodeEntryLine = (entry: StoredEntry, secret: LedgerSecret): string => {
  const writes = canonicalWrites(entry.writes);
  const hidden = writes.filter((w) => !isPublicMap(w.map));
  const line: Record<string, unknown> = {
    seqno: entry.seqno,
    view: entry.view,
    public: writes.filter((w) => isPublicMap(w.map)).map((w) => ({
      map: w.map,
      key: base64.encode(w.key),
      value: w.value === null ? null : base64.encode(w.value),
    })),
  };
  if (hidden.length > 0) {
    line.private = base64.encode(secret.seal(encodeWriteSet(hidden), entry.view, entry.seqno));
  }
  if (entry.claimsDigest) line.claims_digest = bytesToHex(entry.claimsDigest);
  if (entry.signature) line.signature = entry.signature;
  return JSON.stringify(line) + "\n";
};

const fromBase64 = (u: unknown, what: string): Uint8Array => {
  if (typeof u !== "string") throw new Error(`${what} is not a base64 string`);
  try {
    return base64.decode(u);
  } catch {
    throw new Error(`${what} is not valid base64`);
  }
};

const publicWrite = (u: unknown, i: number): KvWrite => {
  const w = (typeof u === "object" && u !== null ? u : {}) as Record<string, unknown>;
  if (typeof w.map !== "string" || !isPublicMap(w.map)) {
    throw new Error(`public write ${i} does not name a public map`);
  }
  return {
    map: w.map,
    key: fromBase64(w.key, `public write ${i}'s key`),
    value: w.value === null ? null : fromBase64(w.value, `public write ${i}'s value`),
  };
};

/**
 * Parses one line (without its newline) and opens its private part. Throws an `Error` whose
 * message says what is wrong: replay reports it.
 */
export const decodeEntryLine = (bytes: Uint8Array, secret: LedgerSecret): StoredEntry => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(bytes));
  } catch {
    throw new Error("not UTF-8 JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error("not a JSON object");
  }
  const o = parsed as Record<string, unknown>;
  const unknown = Object.keys(o).find((k) => !ENTRY_FIELDS.has(k));
  if (unknown !== undefined) throw new Error(`unknown field '${unknown}'`);
  const { seqno, view } = o;
  if (!Number.isSafeInteger(seqno) || (seqno as number) < 1) throw new Error("bad seqno");
  if (!Number.isSafeInteger(view) || (view as number) < 0) throw new Error("bad view");
  if (!Array.isArray(o.public)) throw new Error("'public' is not an array");
  const writes = o.public.map(publicWrite);
  if (o.private !== undefined) {
    let plain: Uint8Array;
    try {
      plain = secret.open(fromBase64(o.private, "'private'"), view as number, seqno as number);
    } catch {
      throw new Error("the private writes do not decrypt under the ledger secret");
    }
    const hidden = decodeWriteSet(plain);
    if (hidden.length === 0 || hidden.some((w) => isPublicMap(w.map))) {
      throw new Error("the private writes are empty or name a public map");
    }
    writes.push(...hidden);
  }
  if (writes.length === 0) throw new Error("no writes");
  const claims = o.claims_digest;
  if (claims !== undefined && (typeof claims !== "string" || !HASH_HEX.test(claims))) {
    throw new Error("'claims_digest' is not 64 lowercase hex");
  }
  return {
    seqno: seqno as number,
    view: view as number,
    writes: canonicalWrites(writes),
    ...(claims === undefined ? {} : { claimsDigest: hexToBytes(claims as string) }),
    ...(o.signature === undefined ? {} : { signature: asSignatureRecord(o.signature) }),
  };
};

/** The lines of a file's bytes, in order, the last one possibly torn (no newline). */
export function* linesOf(bytes: Uint8Array): Generator<Line> {
  for (let start = 0; start < bytes.length;) {
    const nl = bytes.indexOf(0x0a, start);
    const end = nl < 0 ? bytes.length : nl + 1;
    yield { start, end, terminated: nl >= 0 };
    start = end;
  }
}

/**
 * Appends lines to the ledger file, flushes them to the disk on request, and reads them back by
 * their byte range (historical queries read entries from the file, as CCF's do).
 */
export class LedgerWriter {
  readonly #file: Deno.FsFile;
  readonly #reader: Deno.FsFile;
  readonly #encoder = new TextEncoder();
  #size: number;

  private constructor(file: Deno.FsFile, reader: Deno.FsFile) {
    this.#file = file;
    this.#reader = reader;
    this.#size = file.statSync().size;
  }

  /** Opens `path` for appending (creating it if needed) and for reading. */
  static open(path: string): LedgerWriter {
    const file = Deno.openSync(path, { append: true, create: true });
    return new LedgerWriter(file, Deno.openSync(path, { read: true }));
  }

  /** Writes `text` entirely (a single write may be short); returns the byte range it took. */
  append(text: string): readonly [start: number, end: number] {
    const bytes = this.#encoder.encode(text);
    for (let at = 0; at < bytes.length;) at += this.#file.writeSync(bytes.subarray(at));
    const start = this.#size;
    this.#size += bytes.length;
    return [start, this.#size];
  }

  /** The bytes from `start` to `end` (exclusive), which must have been appended. */
  read(start: number, end: number): Uint8Array {
    const bytes = new Uint8Array(end - start);
    this.#reader.seekSync(start, Deno.SeekMode.Start);
    for (let at = 0; at < bytes.length;) {
      const n = this.#reader.readSync(bytes.subarray(at));
      if (n === null) throw new Error(`The ledger file ends before byte ${end}`);
      at += n;
    }
    return bytes;
  }

  /** fsync: everything appended so far survives a crash or power loss once this returns. */
  sync(): void {
    this.#file.syncSync();
  }

  close(): void {
    this.#file.close();
    this.#reader.close();
  }
}

const SIGNED_MARK_BYTES = 32;

/** The content of `ledger.signed` for `seqno`. */
const signedMark = (seqno: number): Uint8Array =>
  new TextEncoder().encode(JSON.stringify({ signed: seqno }).padEnd(SIGNED_MARK_BYTES - 1) + "\n");

/**
 * The seqno `ledger.signed` at `path` holds: 0 when the file does not exist. Throws when it
 * holds anything else than the node writes, which only an edit can cause.
 */
export const readSignedMark = (path: string): number => {
  const file = readStateField(path, "signed");
  if (file === undefined) return 0;
  const seqno = file.value;
  if (
    file.text.length !== SIGNED_MARK_BYTES || !Number.isSafeInteger(seqno) || (seqno as number) < 0
  ) {
    throw new Error(`${path} is not a signature mark this node wrote: restore it or remove it`);
  }
  return seqno as number;
};

/** Rewrites `ledger.signed` in place, with one write of its 32 bytes. */
export class SignedMarkWriter {
  readonly #file: Deno.FsFile;

  private constructor(file: Deno.FsFile) {
    this.#file = file;
  }

  /** Opens (creating) the mark at `path`, setting it to `seqno`. */
  static open(path: string, seqno: number): SignedMarkWriter {
    const writer = new SignedMarkWriter(Deno.openSync(path, { write: true, create: true }));
    writer.write(seqno);
    return writer;
  }

  /** Records, durably, that the signature at `seqno` is on disk. */
  write(seqno: number): void {
    const bytes = signedMark(seqno);
    this.#file.seekSync(0, Deno.SeekMode.Start);
    for (let at = 0; at < bytes.length;) at += this.#file.writeSync(bytes.subarray(at));
    this.#file.syncSync();
  }

  close(): void {
    this.#file.close();
  }
}

/**
 * fsyncs a directory so that a file just created in it survives power loss. Not every platform
 * can open a directory; there the file system's own ordering is all there is.
 */
export const syncDirectory = (dir: string): void => {
  let handle: Deno.FsFile | undefined;
  try {
    handle = Deno.openSync(dir, { read: true });
    handle.syncSync();
  } catch {
    // Best effort by design: see above.
  } finally {
    handle?.close();
  }
};
