/**
 * One node's cache of historical states, as CCF's `ccf.historical.getStateRange` behaves: the
 * first call for a range starts fetching it and answers `null`; calls with the same handle and
 * range answer `null` until the fetch is done (`fetchDelayMs` after it started, and every seqno of
 * the range committed on this node), then the states. A request is forgotten when its handle asks
 * for another range (which starts over), when `dropCachedStates` drops it, or when it was not
 * asked for during its `secondsUntilExpiry`. Each node has its own cache: a range one node has
 * fetched is still cold on the next.
 *
 * Time comes from `clock`, so a test drives the fetches without waiting. A fetch that completes
 * before the range is committed starts again, as CCF asks the host for the entries again.
 *
 * A state's `kv` is what CCF gives: the one ledger entry deserialised into an empty store, so it
 * holds the writes of that transaction and nothing else (a key written earlier reads as absent,
 * one it deleted too). The entries are read back from the node's ledger file, so no history of
 * the KV is kept in memory.
 */
import { keyId, type KvWrite } from "../kv.ts";
import type { LedgerReceipt } from "../ledger/ledger.ts";
import type { HistoricalKv, HistoricalState, HostValue } from "../quickjs/mod.ts";

/** Where the cache reads the states it fetches: the node's own ledger. */
export interface HistoricalSource {
  /** The receipt of `seqno` once a signature on this node commits it, else `null`. */
  receiptFor(seqno: number): LedgerReceipt | null;
  /** `<view>.<seqno>` of a committed `seqno`. */
  transactionId(seqno: number): string;
  /** The writes of a committed `seqno`. */
  writesOf(seqno: number): readonly KvWrite[] | null;
}

/** How long fetches take and how time passes. */
export interface HistoricalCacheOptions {
  /** Milliseconds between the first request for a range and its states being available. */
  readonly fetchDelayMs: number;
  /** Host time in milliseconds. */
  readonly clock: () => number;
}

/** Longest range served in one request. */
export const MAX_STATE_RANGE = 10_000;

const SWEEP_INTERVAL_MS = 1000;

interface Request {
  readonly from: number;
  readonly to: number;
  fetchedAt: number;
  expiresAt: number;
  states: readonly HistoricalState[] | null;
}

/** See the module documentation. */
export class HistoricalCache {
  readonly #requests = new Map<number, Request>();
  readonly #source: HistoricalSource;
  readonly #options: HistoricalCacheOptions;
  #sweptAt = -Infinity;

  constructor(source: HistoricalSource, options: HistoricalCacheOptions) {
    this.#source = source;
    this.#options = options;
  }

  /** Handles with a request in the cache (fetching or fetched). */
  get size(): number {
    return this.#requests.size;
  }

  /** `ccf.historical.getStateRange`: the states of `from..to`, or `null` while they are fetched. */
  getStateRange(
    handle: number,
    from: number,
    to: number,
    secondsUntilExpiry: number,
  ): readonly HistoricalState[] | null {
    if (!(from >= 1 && to >= from && to - from < MAX_STATE_RANGE)) return null;
    const now = this.#options.clock();
    this.#sweep(now);
    const expiresAt = now + Math.max(0, secondsUntilExpiry) * 1000;
    const known = this.#requests.get(handle);
    if (!known || known.from !== from || known.to !== to || known.expiresAt < now) {
      this.#requests.set(handle, {
        from,
        to,
        fetchedAt: now + this.#options.fetchDelayMs,
        expiresAt,
        states: null,
      });
      return null;
    }
    known.expiresAt = expiresAt;
    if (known.states) return known.states;
    if (now < known.fetchedAt) return null;
    known.states = this.#read(from, to);
    if (known.states === null) known.fetchedAt = now + this.#options.fetchDelayMs;
    return known.states;
  }

  /** `ccf.historical.dropCachedStates`: whether `handle` had a request. */
  dropCachedStates(handle: number): boolean {
    return this.#requests.delete(handle);
  }

  /** Forgets every request, as a node does when it stops. */
  clear(): void {
    this.#requests.clear();
  }

  #read(from: number, to: number): HistoricalState[] | null {
    const states: HistoricalState[] = [];
    for (let seqno = from; seqno <= to; seqno++) {
      const receipt = this.#source.receiptFor(seqno);
      if (receipt === null) return null;
      const writes = this.#source.writesOf(seqno);
      states.push({
        transactionId: this.#source.transactionId(seqno),
        receipt: receipt as unknown as HostValue,
        ...(writes ? { kv: writeSetKv(seqno, writes) } : {}),
      });
    }
    return states;
  }

  /** Drops expired requests, at most once a second: a request is checked again when asked for. */
  #sweep(now: number): void {
    if (now - this.#sweptAt < SWEEP_INTERVAL_MS) return;
    this.#sweptAt = now;
    for (const [handle, request] of this.#requests) {
      if (request.expiresAt < now) this.#requests.delete(handle);
    }
  }
}

/** The read-only KV of a historical state: the writes of transaction `seqno` (see above). */
export const writeSetKv = (seqno: number, writes: readonly KvWrite[]): HistoricalKv => {
  const maps = new Map<string, Map<string, KvWrite & { value: Uint8Array }>>();
  for (const w of writes) {
    if (w.value === null) continue;
    let keys = maps.get(w.map);
    if (!keys) maps.set(w.map, keys = new Map());
    keys.set(keyId(w.key), { ...w, value: w.value });
  }
  const find = (map: string, key: Uint8Array) => maps.get(map)?.get(keyId(key));
  return {
    get: (map, key) => find(map, key)?.value.slice(),
    has: (map, key) => find(map, key) !== undefined,
    size: (map) => maps.get(map)?.size ?? 0,
    forEach: (map, f) => {
      for (const w of maps.get(map)?.values() ?? []) f(w.value.slice(), w.key.slice());
    },
    getVersionOfPreviousWrite: (map, key) => find(map, key) ? seqno : undefined,
  };
};
