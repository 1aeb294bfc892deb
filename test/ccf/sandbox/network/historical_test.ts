import assert from "node:assert/strict";
import { HistoricalCache, writeSetKv } from "../../../../ccf/sandbox/network/historical.ts";
import type { LedgerReceipt } from "../../../../ccf/sandbox/ledger/ledger.ts";

/** A ledger stand-in whose transactions up to `committed` have receipts. */
const source = () => {
  const state = { committed: 0 };
  return {
    state,
    receiptFor: (seqno: number) =>
      seqno <= state.committed ? { node_id: `r${seqno}` } as unknown as LedgerReceipt : null,
    transactionId: (seqno: number) => `2.${seqno}`,
    writesOf: (seqno: number) => [{ map: "public:m", key: b("k"), value: b(`v${seqno}`) }],
  };
};

const b = (s: string) => new TextEncoder().encode(s);
const s = (v: Uint8Array | undefined) => v && new TextDecoder().decode(v);

const setup = (fetchDelayMs = 100) => {
  const time = { now: 1_000_000 };
  const ledger = source();
  const cache = new HistoricalCache(ledger, { fetchDelayMs, clock: () => time.now });
  return { time, ledger, cache };
};

Deno.test("historical: null until the range is fetched, then the states, for the same handle", () => {
  const { time, ledger, cache } = setup();
  ledger.state.committed = 10;
  assert.equal(cache.getStateRange(5, 5, 5, 60), null);
  time.now += 99;
  assert.equal(cache.getStateRange(5, 5, 5, 60), null);
  time.now += 1;
  const states = cache.getStateRange(5, 5, 5, 60);
  assert.deepEqual(states?.map((s) => s.transactionId), ["2.5"]);
  assert.equal(cache.getStateRange(5, 5, 5, 60), states);
  const range = (from: number, to: number) => {
    assert.equal(cache.getStateRange(9, from, to, 60), null);
    time.now += 100;
    return cache.getStateRange(9, from, to, 60)?.map((s) => s.transactionId);
  };
  assert.deepEqual(range(2, 4), ["2.2", "2.3", "2.4"]);
});

Deno.test("historical: a handle asked for another range starts over; drop forgets it", () => {
  const { time, ledger, cache } = setup();
  ledger.state.committed = 10;
  cache.getStateRange(1, 3, 3, 60);
  time.now += 100;
  assert.ok(cache.getStateRange(1, 3, 3, 60));
  assert.equal(cache.getStateRange(1, 4, 4, 60), null, "another range on the same handle");
  time.now += 100;
  assert.ok(cache.getStateRange(1, 4, 4, 60));
  assert.equal(cache.getStateRange(1, 3, 3, 60), null, "the first range was dropped");
  assert.equal(cache.dropCachedStates(1), true);
  assert.equal(cache.dropCachedStates(1), false);
  assert.equal(cache.size, 0);
});

Deno.test("historical: states expire after secondsUntilExpiry without a call", () => {
  const { time, ledger, cache } = setup();
  ledger.state.committed = 10;
  cache.getStateRange(7, 7, 7, 2);
  time.now += 100;
  assert.ok(cache.getStateRange(7, 7, 7, 2));
  time.now += 1_900;
  assert.ok(cache.getStateRange(7, 7, 7, 2), "each call extends the expiry");
  time.now += 2_001;
  assert.equal(cache.getStateRange(7, 7, 7, 2), null, "expired: fetched again");
  time.now += 5_000;
  cache.getStateRange(8, 8, 8, 1);
  assert.equal(cache.size, 1, "expired requests are swept");
});

Deno.test("historical: an uncommitted range is fetched again until it is committed", () => {
  const { time, ledger, cache } = setup();
  ledger.state.committed = 4;
  assert.equal(cache.getStateRange(5, 5, 5, 60), null);
  time.now += 100;
  assert.equal(cache.getStateRange(5, 5, 5, 60), null, "not committed yet");
  ledger.state.committed = 5;
  time.now += 50;
  assert.equal(cache.getStateRange(5, 5, 5, 60), null, "the new fetch is under way");
  time.now += 50;
  assert.ok(cache.getStateRange(5, 5, 5, 60));
});

Deno.test("historical: each cache is a node's own", () => {
  const { time, ledger } = setup();
  ledger.state.committed = 3;
  const clock = () => time.now;
  const a = new HistoricalCache(ledger, { fetchDelayMs: 100, clock });
  const b = new HistoricalCache(ledger, { fetchDelayMs: 100, clock });
  a.getStateRange(3, 3, 3, 60);
  time.now += 100;
  assert.ok(a.getStateRange(3, 3, 3, 60));
  assert.equal(b.getStateRange(3, 3, 3, 60), null, "warm on one node, cold on the other");
});

Deno.test("historical: ranges that cannot be served answer null without a request", () => {
  const { cache } = setup();
  for (const [from, to] of [[0, 1], [5, 4], [1, 10_001]]) {
    assert.equal(cache.getStateRange(1, from, to, 60), null);
  }
  assert.equal(cache.size, 0);
});

Deno.test("historical: a state's kv holds that transaction's writes, nothing else", () => {
  const { time, ledger, cache } = setup();
  ledger.state.committed = 3;
  cache.getStateRange(1, 3, 3, 60);
  time.now += 100;
  assert.equal(s(cache.getStateRange(1, 3, 3, 60)![0].kv!.get("public:m", b("k"))), "v3");

  const kv = writeSetKv(7, [
    { map: "m", key: b("a"), value: b("1") },
    { map: "m", key: b("b"), value: null },
    { map: "n", key: b("c"), value: b("2") },
  ]);
  assert.equal(s(kv.get("m", b("a"))), "1");
  assert.equal(kv.has("m", b("b")), false, "a key the transaction deleted is absent");
  assert.equal(kv.get("other", b("a")), undefined, "a map it did not write is empty");
  assert.equal(kv.size("m"), 1);
  assert.equal(kv.getVersionOfPreviousWrite("m", b("a")), 7);
  assert.equal(kv.getVersionOfPreviousWrite("m", b("b")), undefined);
  const rows: string[] = [];
  kv.forEach("n", (v, k) => rows.push(`${s(k)}=${s(v)}`));
  assert.deepEqual(rows, ["c=2"]);
  // Values handed out are copies: the state cannot be changed through them.
  kv.get("m", b("a"))![0] = 0;
  assert.equal(s(kv.get("m", b("a"))), "1");
});
