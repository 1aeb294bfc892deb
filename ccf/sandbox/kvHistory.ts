/**
 * Every committed write of a store, so that the KV can be read as it stood after any seqno: the
 * `kv` of CCF's historical states, which CCF rebuilds from ledger entries. Memory grows with the
 * writes kept; the sandbox keeps them all (the ledger file holds them too).
 */
import { keyId, type KvWrite } from "./kv.ts";

/** The KV as of one seqno; the methods a read-only transaction has. */
export interface KvStateView {
  /** The value of `key` in `map`, if any. */
  get(map: string, key: Uint8Array): Uint8Array | undefined;
  /** Whether `map` holds `key`. */
  has(map: string, key: Uint8Array): boolean;
  /** The seqno that last wrote `key` in `map`, if it is present. */
  getVersionOfPreviousWrite(map: string, key: Uint8Array): number | undefined;
  /** How many keys `map` holds. */
  size(map: string): number;
  /** Calls `f` with each value and key of `map`. */
  forEach(map: string, f: (value: Uint8Array, key: Uint8Array) => void): void;
}

interface Version {
  readonly seqno: number;
  readonly value: Uint8Array | null;
}

interface KeyHistory {
  readonly key: Uint8Array;
  /** In increasing seqno order. */
  readonly versions: Version[];
}

/** Pass it as `KvStore`'s `history` option; {@link stateAt} reads the past. */
export class KvHistory {
  readonly #maps = new Map<string, Map<string, KeyHistory>>();

  /** Called by the store for each applied write set, in seqno order. */
  record(seqno: number, writes: readonly KvWrite[]): void {
    for (const { map, key, value } of writes) {
      let keys = this.#maps.get(map);
      if (!keys) this.#maps.set(map, keys = new Map());
      const id = keyId(key);
      let history = keys.get(id);
      if (!history) keys.set(id, history = { key: key.slice(), versions: [] });
      history.versions.push({ seqno, value: value && value.slice() });
    }
  }

  /** The KV as it stood once `seqno` was applied. */
  stateAt(seqno: number): KvStateView {
    const at = (
      history: KeyHistory | undefined,
    ): { seqno: number; value: Uint8Array } | undefined => {
      const versions = history?.versions ?? [];
      let lo = 0;
      let hi = versions.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (versions[mid].seqno <= seqno) lo = mid + 1;
        else hi = mid;
      }
      const found = versions[lo - 1];
      return found?.value ? { seqno: found.seqno, value: found.value } : undefined;
    };
    const lookup = (map: string, key: Uint8Array) => at(this.#maps.get(map)?.get(keyId(key)));
    const live = (map: string) =>
      [...this.#maps.get(map)?.values() ?? []].flatMap((h) => {
        const v = at(h);
        return v ? [[v.value, h.key] as const] : [];
      });
    return {
      get: (map, key) => lookup(map, key)?.value.slice(),
      has: (map, key) => lookup(map, key) !== undefined,
      getVersionOfPreviousWrite: (map, key) => lookup(map, key)?.seqno,
      size: (map) => live(map).length,
      forEach: (map, f) => live(map).forEach(([v, k]) => f(v.slice(), k.slice())),
    };
  }
}
