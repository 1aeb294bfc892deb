/**
 * `mode: "historical"` endpoints and `ccf.historical` as CCF 6 runs them: the transaction named
 * by `x-ms-ccf-transaction-id`, CCF's 400/404/202 answers, `ccf.historicalState` with a read-only
 * KV as of that transaction, and `getStateRange`'s refusal of a range ending before it starts.
 */
import assert from "node:assert/strict";
import { KvStore } from "../../../../ccf/sandbox/kv.ts";
import type {
  AppRequest,
  HistoricalState,
  RequestHooks,
} from "../../../../ccf/sandbox/quickjs/mod.ts";
import { EXCEPTION_BODY, Harness, json, singleModuleApp, text } from "./_harness.ts";

const utf8 = (s: string) => new TextEncoder().encode(s);

const source = `
const name = (m, k) => { const v = m.get(ccf.strToBuf(k)); return v && ccf.bufToStr(v); };
export function at(request) {
  const s = ccf.historicalState;
  const map = s.kv["records"];
  let write = "allowed";
  try { map.set(ccf.strToBuf("k"), ccf.strToBuf("x")); } catch (e) { write = e.constructor.name; }
  return { body: { id: s.transactionId, receipt: s.receipt, k: name(map, "k"), write } };
}
export function range(request) {
  const [from, to] = request.query.split(",").map(Number);
  const states = ccf.historical.getStateRange(7, from, to, 60);
  if (states === null) return { statusCode: 202 };
  return { body: states.map((s) => ({ id: s.transactionId, k: name(s.kv["records"], "k") })) };
}
export const drop = () => ({ body: ccf.historical.dropCachedStates(7) });
export const present = () => ({ body: "historicalState" in ccf });
`;

/** The KV as of an old transaction: `records.k` was `old` then. */
const oldKv = () => {
  const store = new KvStore();
  const tx = store.begin();
  tx.set("records", utf8("k"), utf8("old"));
  store.commit(tx);
  return store.begin();
};

const app = () =>
  singleModuleApp(source, ["at", "range", "drop", "present"], undefined, { mode: "historical" });

const withTxId = (txId: string | undefined, path = "/at"): AppRequest => ({
  method: "GET",
  path,
  headers: txId === undefined ? {} : { "x-ms-ccf-transaction-id": txId },
});

/** A harness whose store has committed three transactions (current `records.k` is `new`). */
const harness = async () => {
  const h = new Harness(await app());
  for (let i = 0; i < 3; i++) {
    const tx = h.store.begin();
    tx.set("records", utf8("k"), utf8("new"));
    h.store.commit(tx);
  }
  return h;
};

Deno.test("historical endpoint: a missing or malformed transaction id is a 400", async () => {
  const h = await harness();
  const missing = h.run(withTxId(undefined));
  assert.equal(missing.status, 400);
  assert.equal((json(missing) as { error: { code: string } }).error.code, "MissingRequiredHeader");
  for (const bad of ["2", "two.1", "2.1.0", "-2.1", ""]) {
    const r = h.run(withTxId(bad));
    assert.equal(r.status, 400, bad);
    assert.equal((json(r) as { error: { code: string } }).error.code, "InvalidHeaderValue");
  }
});

Deno.test("historical endpoint: pending or unknown, and invalid, transactions are 404s", async () => {
  const h = await harness();
  const statusOf = (status: "Pending" | "Unknown" | "Invalid"): RequestHooks => ({
    consensus: {
      getLastCommittedTxId: () => ({ view: 2, seqno: 1 }),
      getStatusForTxId: () => status,
      getViewForSeqno: () => 2,
    },
    historicalStateAt: () => assert.fail("no state is fetched for such a transaction"),
  });
  for (const status of ["Pending", "Unknown"] as const) {
    const r = h.run(withTxId("2.3"), statusOf(status));
    assert.equal(r.status, 404);
    assert.equal(
      (json(r) as { error: { code: string } }).error.code,
      "TransactionPendingOrUnknown",
    );
    assert.equal(r.headers["cache-control"], "no-cache");
  }
  const invalid = h.run(withTxId("2.3"), statusOf("Invalid"));
  assert.equal(invalid.status, 404);
  assert.equal((json(invalid) as { error: { code: string } }).error.code, "TransactionInvalid");
  // Without a consensus hook, a seqno beyond the store's is unknown.
  assert.equal(h.run(withTxId("2.99")).status, 404);
});

Deno.test("historical endpoint: 202 while the state loads, then the handler sees ccf.historicalState", async () => {
  const h = await harness();
  const asked: number[][] = [];
  let ready = false;
  const hooks: RequestHooks = {
    getStateRange: (handle, from, to) => {
      asked.push([handle, from, to]);
      return ready ? [{ transactionId: `2.${from}`, receipt: { proof: [] }, kv: oldKv() }] : null;
    },
  };
  const loading = h.run(withTxId("2.2"), hooks);
  assert.equal(loading.status, 202);
  assert.equal(loading.headers["retry-after"], "3");
  assert.equal(loading.headers["content-type"], "text/plain");
  ready = true;
  const done = h.run(withTxId("2.2"), hooks);
  assert.equal(done.status, 200, text(done));
  // The state as of 2.2, read-only; the node's cache is asked on a handle apart from the app's.
  assert.deepEqual(json(done), { id: "2.2", receipt: { proof: [] }, k: "old", write: "TypeError" });
  assert.deepEqual(asked, [[-3, 2, 2], [-3, 2, 2]]);
});

Deno.test("historical endpoint: ccf.historicalState exists only in historical requests", async () => {
  const state: HistoricalState = { transactionId: "2.1", receipt: null };
  const app = await singleModuleApp(source, ["present"], undefined, {
    mode: "historical",
    interpreter_reuse: { key: "k" },
  });
  const h = new Harness(app);
  const tx = h.store.begin();
  tx.set("m", utf8("k"), utf8("v"));
  h.store.commit(tx);
  assert.equal(json(h.run(withTxId("2.1", "/present"), { historicalStateAt: () => state })), true);
  const plain = await singleModuleApp(source, ["present"], undefined, { mode: "readonly" });
  assert.equal(json(new Harness(plain).run("/present")), false);
});

Deno.test("ccf.historical: states carry a read-only kv; an inverted range throws", async () => {
  const h = new Harness(
    await singleModuleApp(source, ["range", "drop"], undefined, { mode: "readonly" }),
  );
  const hooks: RequestHooks = {
    getStateRange: (_handle, from, to) =>
      Array.from({ length: to - from + 1 }, (_, i) => ({
        transactionId: `2.${from + i}`,
        receipt: null,
        ...(i === 0 ? { kv: oldKv() } : {}),
      })),
    dropCachedStates: () => false,
  };
  // A state without a KV from the host reads as empty maps.
  assert.deepEqual(json(h.run({ method: "GET", path: "/range", query: "1,2" }, hooks)), [
    { id: "2.1", k: "old" },
    { id: "2.2" },
  ]);
  const inverted = h.run({ method: "GET", path: "/range", query: "3,2" }, hooks);
  assert.equal(inverted.status, 500);
  assert.deepEqual(json(inverted), EXCEPTION_BODY);
  assert.equal(json(h.run("/drop", hooks)), false);
});
