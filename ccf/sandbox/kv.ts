/**
 * The sandbox's transactional key-value store: CCF's KV semantics for one node, in memory.
 *
 * Maps are named by strings and hold byte keys and byte values, compared by content. A
 * {@link KvStore} holds the committed state and, per key, the seqno of the transaction that last
 * wrote it. {@link KvStore.begin} opens a {@link KvTransaction} that reads the committed state
 * overlaid with its own pending writes; {@link KvStore.commit} applies those writes atomically
 * under the next seqno and returns the ordered write set, which is what a ledger records.
 *
 * Concurrency control is optimistic: a transaction remembers the version of everything it read
 * (single keys, and whole maps for `size`, `forEach` and `clear`), and `commit` rejects it with
 * {@link KvConflictError} when any of that changed since, leaving the store untouched. The caller
 * then re-executes the request on a fresh transaction, as CCF does. Blind writes never conflict.
 *
 * Access permissions (governance, internal and reserved map namespaces) are not enforced here but
 * in the `ccf.kv` layer of the app runtime: governance and the ledger write any map.
 */

/** View reported in transaction ids: a one-node network that never changes primary. */
export const DEFAULT_VIEW = 2;

/** One entry of a committed write set: `value` is `null` when the key was deleted. */
export interface KvWrite {
  /** The map written. */
  readonly map: string;
  /** The key written. */
  readonly key: Uint8Array;
  /** The value written; null for a deletion. */
  readonly value: Uint8Array | null;
}

/** What {@link KvStore.commit} applied: the seqno, its `<view>.<seqno>` id and the write set. */
export interface KvCommit {
  /** The view of the transaction (and of the store). */
  readonly view: number;
  /** The transaction's sequence number. */
  readonly seqno: number;
  /** The transaction id, `view.seqno`. */
  readonly txId: string;
  /** Ordered by map name, then by key bytes; deterministic whatever order the writes happened in. */
  readonly writes: readonly KvWrite[];
}

/** Thrown by {@link KvStore.commit} when a read of the transaction is stale: re-execute it. */
export class KvConflictError extends Error {
  constructor(readonly map: string) {
    super(`Transaction conflicts with a later commit (map '${map}'); re-execute it`);
    this.name = "KvConflictError";
  }
}

/** Options of a new {@link KvStore}. */
export interface KvStoreOptions {
  /** View of every transaction id (default {@link DEFAULT_VIEW}). */
  readonly view?: number;
  /** Seqno of the last transaction already applied (default 0: the first commit gets seqno 1). */
  readonly lastSeqno?: number;
}

interface Entry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  readonly version: number;
}

interface MapState {
  readonly entries: Map<string, Entry>;
  /** Seqno of the last write or deletion per key, kept for deleted keys too (conflict checks). */
  readonly changed: Map<string, number>;
  /** Seqno of the last commit that wrote this map at all. */
  version: number;
}

interface Pending {
  readonly key: Uint8Array;
  readonly value: Uint8Array | null;
}

interface MapWrites {
  cleared: boolean;
  readonly pending: Map<string, Pending>;
}

/** Content identity of a key: one UTF-16 unit per byte, so equal bytes give equal strings. */
export const keyId = (key: Uint8Array): string => {
  let s = "";
  for (let i = 0; i < key.length; i += 4096) {
    s += String.fromCharCode(...key.subarray(i, i + 4096));
  }
  return s;
};

const copy = (bytes: Uint8Array): Uint8Array => bytes.slice();

/** Lexicographic order of byte strings, the order of keys in write sets. */
export const compareBytes = (a: Uint8Array, b: Uint8Array): number => {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
};

/** The committed state of every map, with per-key versions. */
export class KvStore {
  #view: number;
  #lastSeqno: number;
  readonly #maps = new Map<string, MapState>();

  /** An empty store, or one that continues at `options.lastSeqno` in `options.view`. */
  constructor(options: KvStoreOptions = {}) {
    this.#view = options.view ?? DEFAULT_VIEW;
    this.#lastSeqno = options.lastSeqno ?? 0;
  }

  /** The view of the next transaction: the last replayed one's, or the one the store began in. */
  get view(): number {
    return this.#view;
  }

  /** Seqno of the last applied transaction (0 before any). */
  get lastSeqno(): number {
    return this.#lastSeqno;
  }

  /** `<view>.<seqno>` of the last applied transaction. */
  get lastTxId(): string {
    return `${this.view}.${this.#lastSeqno}`;
  }

  /** A new transaction over the current committed state. */
  begin(): KvTransaction {
    return new KvTransaction(this, this.#lastSeqno);
  }

  /**
   * Applies `tx` atomically. Returns `null` (no seqno consumed) when it wrote nothing. Throws
   * {@link KvConflictError} without changing anything when a read of `tx` is stale, and `Error`
   * when `tx` belongs to another store or was already committed.
   */
  commit(tx: KvTransaction): KvCommit | null {
    const { reads, mapReads, writes } = tx._seal(this);
    for (const [map, keys] of reads) {
      const state = this.#maps.get(map);
      for (const [id, seen] of keys) {
        if ((state?.changed.get(id) ?? 0) !== seen) throw new KvConflictError(map);
      }
    }
    for (const [map, seen] of mapReads) {
      if ((this.#maps.get(map)?.version ?? 0) !== seen) throw new KvConflictError(map);
    }
    const ordered = this.#writeSet(writes);
    if (ordered.length === 0) return null;
    return this.#apply(this.#lastSeqno + 1, ordered);
  }

  /**
   * Re-applies a write set that was committed before (ledger replay after a restart), or on
   * another node (a backup applying what its primary replicated, in `view`, which becomes the
   * store's). `seqno` must follow the last applied one and `view` must not go back.
   */
  replay(seqno: number, writes: readonly KvWrite[], view: number = this.#view): KvCommit {
    if (seqno !== this.#lastSeqno + 1) {
      throw new Error(`Replay of seqno ${seqno} after ${this.#lastSeqno}`);
    }
    if (view < this.#view) throw new Error(`Replay of view ${view} after view ${this.#view}`);
    this.#view = view;
    return this.#apply(seqno, writes);
  }

  /** Committed value of `key` in `map`, outside any transaction (a copy). */
  get(map: string, key: Uint8Array): Uint8Array | undefined {
    const entry = this.#maps.get(map)?.entries.get(keyId(key));
    return entry && copy(entry.value);
  }

  /** Seqno of the committed write of `key` in `map`; `undefined` if never written or deleted. */
  getVersionOfPreviousWrite(map: string, key: Uint8Array): number | undefined {
    return this.#maps.get(map)?.entries.get(keyId(key))?.version;
  }

  /** Names of the maps that hold at least one key. */
  mapNames(): string[] {
    return [...this.#maps].filter(([, s]) => s.entries.size > 0).map(([name]) => name).sort();
  }

  /** @internal Committed entries of a map, for transactions of this store. */
  _entries(map: string): ReadonlyMap<string, Entry> | undefined {
    return this.#maps.get(map)?.entries;
  }

  /** @internal Version used for conflict checks of one key. */
  _keyVersion(map: string, id: string): number {
    return this.#maps.get(map)?.changed.get(id) ?? 0;
  }

  /** @internal Version used for conflict checks of a whole map. */
  _mapVersion(map: string): number {
    return this.#maps.get(map)?.version ?? 0;
  }

  #writeSet(writes: ReadonlyMap<string, MapWrites>): KvWrite[] {
    const out: KvWrite[] = [];
    for (const map of [...writes.keys()].sort()) {
      const { cleared, pending } = writes.get(map)!;
      const byId = new Map<string, Pending>();
      if (cleared) {
        for (const [id, entry] of this.#maps.get(map)?.entries ?? []) {
          byId.set(id, { key: entry.key, value: null });
        }
      }
      for (const [id, p] of pending) byId.set(id, p);
      const rows = [...byId.values()].sort((a, b) => compareBytes(a.key, b.key));
      for (const { key, value } of rows) out.push({ map, key: copy(key), value });
    }
    return out;
  }

  #apply(seqno: number, writes: readonly KvWrite[]): KvCommit {
    for (const { map, key, value } of writes) {
      let state = this.#maps.get(map);
      if (!state) {
        state = { entries: new Map(), changed: new Map(), version: 0 };
        this.#maps.set(map, state);
      }
      const id = keyId(key);
      if (value === null) state.entries.delete(id);
      else state.entries.set(id, { key: copy(key), value: copy(value), version: seqno });
      state.changed.set(id, seqno);
      state.version = seqno;
    }
    this.#lastSeqno = seqno;
    return { view: this.view, seqno, txId: `${this.view}.${seqno}`, writes };
  }
}

/**
 * One transaction: reads see the committed state plus this transaction's own writes. Values passed
 * in and handed out are copies, so callers may reuse their buffers.
 */
export class KvTransaction {
  readonly #store: KvStore;
  readonly #reads = new Map<string, Map<string, number>>();
  readonly #mapReads = new Map<string, number>();
  readonly #writes = new Map<string, MapWrites>();
  #sealed = false;

  /** @internal Use {@link KvStore.begin}. */
  constructor(store: KvStore, readonly startSeqno: number) {
    this.#store = store;
  }

  /** Whether this transaction has written (or deleted, or cleared) anything. */
  get hasWrites(): boolean {
    return this.#writes.size > 0;
  }

  /** Value of `key` in `map`, or `undefined`. */
  get(map: string, key: Uint8Array): Uint8Array | undefined {
    const found = this.#lookup(map, key);
    return found && copy(found);
  }

  /** Whether `key` is present in `map`. */
  has(map: string, key: Uint8Array): boolean {
    return this.#lookup(map, key) !== undefined;
  }

  /**
   * Seqno of the committed write of `key`, ignoring this transaction's pending writes; `undefined`
   * if never written or currently deleted.
   */
  getVersionOfPreviousWrite(map: string, key: Uint8Array): number | undefined {
    this.#assertOpen();
    const id = keyId(key);
    this.#recordRead(map, id);
    return this.#store._entries(map)?.get(id)?.version;
  }

  /** Number of keys in `map`, counting this transaction's pending writes and deletions. */
  size(map: string): number {
    return this.#rows(map).length;
  }

  /** Calls `f(value, key)` for every key of `map` as this transaction sees it. */
  forEach(map: string, f: (value: Uint8Array, key: Uint8Array) => void): void {
    for (const [value, key] of this.#rows(map)) f(copy(value), copy(key));
  }

  /** Writes `value` at `key` in `map`. */
  set(map: string, key: Uint8Array, value: Uint8Array): void {
    this.#assertOpen();
    this.#mapWrites(map).pending.set(keyId(key), { key: copy(key), value: copy(value) });
  }

  /** Deletes `key` from `map` (a no-op write if absent, as in CCF). */
  delete(map: string, key: Uint8Array): void {
    this.#assertOpen();
    this.#mapWrites(map).pending.set(keyId(key), { key: copy(key), value: null });
  }

  /** Deletes every key of `map`. */
  clear(map: string): void {
    this.#assertOpen();
    // The deletions are computed from the committed keys at commit time, so that set depends on
    // the map's version: record it like a whole-map read.
    this.#mapReads.set(map, this.#store._mapVersion(map));
    const w = this.#mapWrites(map);
    w.cleared = true;
    w.pending.clear();
  }

  /** @internal Ends the transaction and hands its read and write sets to `store`. */
  _seal(store: KvStore): {
    reads: ReadonlyMap<string, ReadonlyMap<string, number>>;
    mapReads: ReadonlyMap<string, number>;
    writes: ReadonlyMap<string, MapWrites>;
  } {
    if (store !== this.#store) throw new Error("Transaction belongs to another store");
    this.#assertOpen();
    this.#sealed = true;
    return { reads: this.#reads, mapReads: this.#mapReads, writes: this.#writes };
  }

  /** A snapshot of the map as this transaction sees it; a whole-map read. */
  #rows(map: string): Array<[value: Uint8Array, key: Uint8Array]> {
    this.#assertOpen();
    this.#mapReads.set(map, this.#store._mapVersion(map));
    const w = this.#writes.get(map);
    const rows: Array<[Uint8Array, Uint8Array]> = [];
    if (!w?.cleared) {
      for (const [id, entry] of this.#store._entries(map) ?? []) {
        if (!w?.pending.has(id)) rows.push([entry.value, entry.key]);
      }
    }
    for (const p of w?.pending.values() ?? []) {
      if (p.value !== null) rows.push([p.value, p.key]);
    }
    return rows;
  }

  #lookup(map: string, key: Uint8Array): Uint8Array | undefined {
    this.#assertOpen();
    const id = keyId(key);
    const w = this.#writes.get(map);
    const p = w?.pending.get(id);
    if (p) return p.value ?? undefined;
    if (w?.cleared) return undefined;
    this.#recordRead(map, id);
    return this.#store._entries(map)?.get(id)?.value;
  }

  #recordRead(map: string, id: string): void {
    let keys = this.#reads.get(map);
    if (!keys) {
      keys = new Map();
      this.#reads.set(map, keys);
    }
    if (!keys.has(id)) keys.set(id, this.#store._keyVersion(map, id));
  }

  #mapWrites(map: string): MapWrites {
    let w = this.#writes.get(map);
    if (!w) {
      w = { cleared: false, pending: new Map() };
      this.#writes.set(map, w);
    }
    return w;
  }

  #assertOpen(): void {
    if (this.#sealed) throw new Error("Transaction already committed");
  }
}
