import assert from "node:assert/strict";
import { KvConflictError, KvStore } from "../../../ccf/sandbox/kv.ts";

const b = (s: string) => new TextEncoder().encode(s);
const s = (
  u: Uint8Array | undefined,
) => (u === undefined ? undefined : new TextDecoder().decode(u));

const seeded = (entries: Record<string, string>, map = "m") => {
  const store = new KvStore();
  const tx = store.begin();
  for (const [k, v] of Object.entries(entries)) tx.set(map, b(k), b(v));
  store.commit(tx);
  return store;
};

Deno.test("kv: keys compare by content, values are copies", () => {
  const store = new KvStore();
  const tx = store.begin();
  const key = b("k");
  const value = b("v1");
  tx.set("m", key, value);
  key[0] = 0x78;
  value[0] = 0x78;
  assert.equal(s(tx.get("m", b("k"))), "v1");
  const got = tx.get("m", b("k"))!;
  got[0] = 0;
  assert.equal(s(tx.get("m", b("k"))), "v1");
});

Deno.test("kv: a transaction reads its own writes, others do not see them", () => {
  const store = seeded({ a: "1" });
  const t1 = store.begin();
  const t2 = store.begin();
  t1.set("m", b("a"), b("2"));
  t1.set("m", b("b"), b("3"));
  assert.equal(s(t1.get("m", b("a"))), "2");
  assert.equal(t1.has("m", b("b")), true);
  assert.equal(s(t2.get("m", b("a"))), "1");
  assert.equal(t2.has("m", b("b")), false);
  assert.equal(s(store.get("m", b("a"))), "1");
});

Deno.test("kv: size and forEach count pending writes and deletions", () => {
  const store = seeded({ a: "1", b: "2" });
  const tx = store.begin();
  assert.equal(tx.size("m"), 2);
  tx.set("m", b("c"), b("3"));
  tx.set("m", b("a"), b("9"));
  assert.equal(tx.size("m"), 3);
  tx.delete("m", b("b"));
  tx.delete("m", b("zz"));
  assert.equal(tx.size("m"), 2);
  const seen: Record<string, string> = {};
  tx.forEach("m", (v, k) => (seen[s(k)!] = s(v)!));
  assert.deepEqual(seen, { a: "9", c: "3" });
  tx.clear("m");
  assert.equal(tx.size("m"), 0);
  tx.set("m", b("d"), b("4"));
  assert.equal(tx.size("m"), 1);
  assert.equal(tx.size("empty"), 0);
});

Deno.test("kv: getVersionOfPreviousWrite ignores pending writes and deleted keys", () => {
  const store = new KvStore();
  const t1 = store.begin();
  assert.equal(t1.getVersionOfPreviousWrite("m", b("a")), undefined);
  t1.set("m", b("a"), b("1"));
  assert.equal(t1.getVersionOfPreviousWrite("m", b("a")), undefined);
  assert.equal(store.commit(t1)!.seqno, 1);
  const t2 = store.begin();
  t2.set("m", b("x"), b("1"));
  store.commit(t2);
  const t3 = store.begin();
  assert.equal(t3.getVersionOfPreviousWrite("m", b("a")), 1);
  t3.set("m", b("a"), b("2"));
  assert.equal(t3.getVersionOfPreviousWrite("m", b("a")), 1);
  assert.equal(store.commit(t3)!.txId, "2.3");
  assert.equal(store.getVersionOfPreviousWrite("m", b("a")), 3);
  const t4 = store.begin();
  t4.delete("m", b("a"));
  store.commit(t4);
  assert.equal(store.begin().getVersionOfPreviousWrite("m", b("a")), undefined);
});

Deno.test("kv: commit returns the ordered write set and advances seqno", () => {
  const store = seeded({ a: "1", b: "2" });
  assert.equal(store.lastTxId, "2.1");
  const tx = store.begin();
  tx.set("z", b("k"), b("v"));
  tx.delete("m", b("b"));
  tx.set("m", b("c"), b("3"));
  tx.set("m", b("a"), b("0"));
  const commit = store.commit(tx)!;
  assert.equal(commit.seqno, 2);
  assert.equal(commit.txId, "2.2");
  assert.deepEqual(
    commit.writes.map((w) => [w.map, s(w.key), w.value === null ? null : s(w.value)]),
    [["m", "a", "0"], ["m", "b", null], ["m", "c", "3"], ["z", "k", "v"]],
  );
  assert.deepEqual(store.mapNames(), ["m", "z"]);
});

Deno.test("kv: clear commits a deletion of every committed key", () => {
  const store = seeded({ a: "1", b: "2" });
  const tx = store.begin();
  tx.clear("m");
  tx.set("m", b("b"), b("new"));
  const commit = store.commit(tx)!;
  assert.deepEqual(commit.writes.map((w) => [s(w.key), s(w.value ?? undefined)]), [
    ["a", undefined],
    ["b", "new"],
  ]);
  assert.equal(store.get("m", b("a")), undefined);
  assert.equal(s(store.get("m", b("b"))), "new");
});

Deno.test("kv: a transaction without writes commits nothing", () => {
  const store = seeded({ a: "1" });
  const tx = store.begin();
  tx.get("m", b("a"));
  tx.size("m");
  assert.equal(store.commit(tx), null);
  assert.equal(store.lastSeqno, 1);
  assert.throws(() => store.commit(tx), /already committed/);
});

Deno.test("kv: a stale read makes commit fail atomically (caller re-executes)", () => {
  const store = seeded({ counter: "1" });
  const slow = store.begin();
  const fast = store.begin();
  const read = (tx = slow) => Number(s(tx.get("m", b("counter"))));
  slow.set("m", b("counter"), b(String(read(slow) + 1)));
  slow.set("other", b("x"), b("y"));
  fast.set("m", b("counter"), b(String(read(fast) + 1)));
  store.commit(fast);
  assert.throws(() => store.commit(slow), KvConflictError);
  assert.equal(store.lastSeqno, 2);
  assert.equal(store.get("other", b("x")), undefined);
  const retry = store.begin();
  retry.set("m", b("counter"), b(String(read(retry) + 1)));
  store.commit(retry);
  assert.equal(s(store.get("m", b("counter"))), "3");
});

Deno.test("kv: whole-map reads conflict with any later write to the map", () => {
  const store = seeded({ a: "1" });
  const counting = store.begin();
  const n = counting.size("m");
  counting.set("sizes", b("m"), b(String(n)));
  const writer = store.begin();
  writer.set("m", b("b"), b("2"));
  store.commit(writer);
  assert.throws(() => store.commit(counting), KvConflictError);
});

Deno.test("kv: a key written since it was read conflicts; blind writes never do", () => {
  const store = seeded({ a: "1", b: "2" });
  const t1 = store.begin();
  const t2 = store.begin();
  t1.get("m", b("a"));
  t1.set("m", b("a"), b("10"));
  t2.get("m", b("b"));
  t2.set("m", b("a"), b("blind"));
  t2.set("m", b("b"), b("20"));
  store.commit(t2);
  assert.throws(() => store.commit(t1), KvConflictError);
  const t3 = store.begin();
  t3.set("m", b("a"), b("blind again"));
  const t4 = store.begin();
  t4.set("m", b("a"), b("last"));
  store.commit(t3);
  store.commit(t4);
  assert.equal(s(store.get("m", b("a"))), "last");
});

Deno.test("kv: a deleted then re-created key is a changed read", () => {
  const store = seeded({ a: "1" });
  const reader = store.begin();
  assert.equal(s(reader.get("m", b("a"))), "1");
  reader.set("log", b("seen"), b("1"));
  for (const op of ["delete", "set"] as const) {
    const w = store.begin();
    if (op === "delete") w.delete("m", b("a"));
    else w.set("m", b("a"), b("1"));
    store.commit(w);
  }
  assert.throws(() => store.commit(reader), KvConflictError);
});

Deno.test("kv: replay re-applies a committed write set in order", () => {
  const source = seeded({ a: "1" });
  const tx = source.begin();
  tx.delete("m", b("a"));
  tx.set("n", b("k"), b("v"));
  const second = source.commit(tx)!;
  const copy = new KvStore();
  copy.replay(1, [{ map: "m", key: b("a"), value: b("1") }]);
  copy.replay(second.seqno, second.writes);
  assert.equal(copy.lastTxId, "2.2");
  assert.equal(copy.get("m", b("a")), undefined);
  assert.equal(copy.getVersionOfPreviousWrite("n", b("k")), 2);
  assert.throws(() => copy.replay(5, []), /Replay of seqno 5/);
});

Deno.test("kv: a transaction of another store is refused", () => {
  const a = new KvStore();
  const tx = a.begin();
  tx.set("m", b("k"), b("v"));
  assert.throws(() => new KvStore().commit(tx), /another store/);
});

Deno.test("kv: a backup's replay carries the primary's view, which never goes back", () => {
  const copy = new KvStore();
  copy.replay(1, [{ map: "m", key: b("a"), value: b("1") }]);
  const next = copy.replay(2, [{ map: "m", key: b("a"), value: b("2") }], 3);
  assert.equal(next.txId, "3.2");
  assert.equal(copy.lastTxId, "3.2");
  const tx = copy.begin();
  tx.set("m", b("a"), b("3"));
  assert.equal(copy.commit(tx)?.txId, "3.3", "the next transaction is in that view too");
  assert.throws(() => copy.replay(4, [], 2), /view 2 after view 3/);
});
