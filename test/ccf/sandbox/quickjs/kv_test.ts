import assert from "node:assert/strict";
import { createAppRuntime, type EndpointProperties } from "../../../../ccf/sandbox/quickjs/mod.ts";
import { bundleOf, ep, EXCEPTION_BODY, Harness, json, text } from "./_harness.ts";

const b = (s: string) => new TextEncoder().encode(s);
const s = (
  u: Uint8Array | undefined,
) => (u === undefined ? undefined : new TextDecoder().decode(u));

const source = `
const map = ccf.kv["public:records"];
const key = (r) => ccf.strToBuf(r.params.id);
const attempt = (f) => { try { f(); return "ok"; } catch (e) { return e.constructor.name + ": " + e.message; } };

export function put(r) {
  map.set(key(r), r.body.arrayBuffer());
  return { statusCode: Number(r.query || "200") | 0 };
}
export function putForced(r) {
  ccf.rpc.setApplyWrites(true);
  map.set(key(r), r.body.arrayBuffer());
  return { statusCode: 409 };
}
export function putDiscarded(r) {
  ccf.rpc.setApplyWrites(false);
  map.set(key(r), r.body.arrayBuffer());
  return { statusCode: 200 };
}
export function putThenThrow(r) {
  map.set(key(r), r.body.arrayBuffer());
  throw new Error("after write");
}
export function get(r) {
  const v = map.get(key(r));
  if (v === undefined) return { statusCode: 404, body: { error: "none" } };
  return { body: { value: ccf.bufToStr(v), version: map.getVersionOfPreviousWrite(key(r)),
    has: map.has(key(r)), size: map.size } };
}
export function scan() {
  const seen = [];
  const result = map.forEach((v, k, m) => { seen.push([ccf.bufToStr(k), ccf.bufToStr(v), m === map]); });
  seen.sort();
  return { body: { seen, result: String(result), size: map.size } };
}
export function remove(r) {
  const deleted = map.delete(key(r));
  return { body: { deleted: String(deleted), after: map.has(key(r)) } };
}
export function wipe() {
  const cleared = map.clear();
  const setResult = map.set(ccf.strToBuf("z"), ccf.strToBuf("9")) === map;
  return { body: { cleared: String(cleared), setResult, size: map.size } };
}
export function readonlyWrite(r) {
  return { body: attempt(() => map.set(key(r), ccf.strToBuf("x"))) };
}
export function readonlyWriteUncaught(r) {
  map.set(key(r), ccf.strToBuf("x"));
  return { body: "wrote" };
}
export function tables() {
  const k = ccf.strToBuf("k");
  return { body: {
    govWrite: attempt(() => ccf.kv["public:ccf.gov.policies.key_release"].set(k, k)),
    govRead: attempt(() => ccf.kv["public:ccf.gov.policies.key_release"].get(k)),
    privateGov: attempt(() => ccf.kv["ccf.gov.users.certs"].get(k)),
    internalRead: attempt(() => ccf.kv["public:ccf.internal.signatures"].size),
    internalDelete: attempt(() => ccf.kv["public:ccf.internal.signatures"].delete(k)),
    privateApp: attempt(() => ccf.kv["secrets"].set(k, k)),
    inKv: "anything" in ccf.kv,
  } };
}
export function reserved() {
  try { ccf.kv["ccf.foo"].get(ccf.strToBuf("k")); } catch (e) { return { body: "caught " + e.message }; }
  return { body: "no error" };
}
export function receipt(r) {
  const version = map.getVersionOfPreviousWrite(key(r));
  if (version === undefined) return { statusCode: 404 };
  const states = ccf.historical.getStateRange(7, version, version, 1800);
  if (states === null) return { statusCode: 202, headers: { "retry-after": 3 } };
  return { body: { transactionId: states[0].transactionId, receipt: states[0].receipt,
    dropped: ccf.historical.dropCachedStates(7) } };
}
export function negativeRange() {
  return { body: attempt(() => ccf.historical.getStateRange(-1, 1, 1, 1)) };
}
export function claims(r) {
  map.set(key(r), ccf.strToBuf("claimed"));
  ccf.rpc.setClaimsDigest(ccf.crypto.digest("SHA-256", ccf.strToBuf("claim")));
  return { statusCode: 201 };
}
export function handles() {
  const a = ccf.kv["public:records"];
  const b = ccf.kv["public:records"];
  return { body: {
    fresh: a !== b && a !== map,
    sharedMethods: a.get === b.get && a.set === map.set,
    name: a._map_name,
    denied: attempt(() => a.set(ccf.strToBuf("k"), ccf.strToBuf("v"))),
  } };
}
export function sabotage() {
  Map.prototype.get = () => { throw new Error("replaced"); };
  Map.prototype.set = () => { throw new Error("replaced"); };
  Object.create = () => { throw new Error("replaced"); };
  return { body: "done" };
}
export function consensus() {
  return { body: { last: ccf.consensus.getLastCommittedTxId(),
    status: ccf.consensus.getStatusForTxId(2, 1), view: ccf.consensus.getViewForSeqno(1) } };
}
`;

const rw = (f: string, more: Partial<EndpointProperties> = {}) => ep("records.js", f, more);
const ro = (f: string, more: Partial<EndpointProperties> = {}) =>
  ep("records.js", f, { mode: "readonly", ...more });

const setup = async () =>
  new Harness(
    await createAppRuntime(bundleOf({
      "/records/{id}": { put: rw("put"), get: ro("get"), delete: rw("remove") },
      "/forced/{id}": { put: rw("putForced") },
      "/discarded/{id}": { put: rw("putDiscarded") },
      "/throwing/{id}": { put: rw("putThenThrow") },
      "/scan": { get: ro("scan") },
      "/wipe": { post: rw("wipe") },
      "/ro/{id}": { post: ro("readonlyWrite") },
      "/ro-uncaught/{id}": { post: ro("readonlyWriteUncaught") },
      "/tables": { get: rw("tables") },
      "/reserved": { get: rw("reserved") },
      "/receipt/{id}": { get: ro("receipt") },
      "/negative": { get: ro("negativeRange") },
      "/claims/{id}": { post: rw("claims") },
      "/consensus": { get: ro("consensus") },
      "/handles": { get: ro("handles", { interpreter_reuse: { key: "kv" } }) },
      "/handles-rw": { post: rw("handles", { interpreter_reuse: { key: "kv" } }) },
      "/sabotage": { post: rw("sabotage", { interpreter_reuse: { key: "kv" } }) },
    }, { "records.js": source })),
  );

const put = (h: Harness, id: string, value: string, query = "") =>
  h.run({ method: "PUT", path: `/app/records/${id}`, query, body: b(value) });

Deno.test("app kv: get/set/has/size/version through ccf.kv, committed on 2xx", async () => {
  const h = await setup();
  assert.equal(put(h, "a", "1").status, 200);
  assert.equal(put(h, "b", "2").status, 200);
  assert.equal(put(h, "a", "3").status, 200);
  assert.equal(h.store.lastSeqno, 3);
  assert.deepEqual(json(h.run("/app/records/a")), { value: "3", version: 3, has: true, size: 2 });
  assert.equal(h.run("/app/records/missing").status, 404);
  assert.deepEqual(json(h.run("/scan")), {
    seen: [["a", "3", true], ["b", "2", true]],
    result: "undefined",
    size: 2,
  });
  assert.deepEqual(json(h.run({ method: "DELETE", path: "/records/a" })), {
    deleted: "undefined",
    after: false,
  });
  assert.equal(h.run("/app/records/a").status, 404);
  assert.deepEqual(json(h.run({ method: "POST", path: "/wipe" })), {
    cleared: "undefined",
    setResult: true,
    size: 1,
  });
  assert.deepEqual(h.store.mapNames(), ["public:records"]);
  assert.equal(s(h.store.get("public:records", b("z"))), "9");
  h.app.dispose();
});

Deno.test("app kv: writes are discarded on 4xx/5xx unless setApplyWrites(true)", async () => {
  const h = await setup();
  const r = put(h, "a", "x", "400");
  assert.equal(r.status, 400);
  assert.equal(r.applyWrites, false);
  assert.equal(h.store.get("public:records", b("a")), undefined);
  const thrown = h.run({ method: "PUT", path: "/throwing/a", body: b("t") });
  assert.equal(thrown.status, 500);
  assert.equal(thrown.applyWrites, false);
  const forced = h.run({ method: "PUT", path: "/forced/a", body: b("kept") });
  assert.equal(forced.status, 409);
  assert.equal(forced.applyWrites, true);
  assert.equal(s(h.store.get("public:records", b("a"))), "kept");
  const discarded = h.run({ method: "PUT", path: "/discarded/b", body: b("gone") });
  assert.equal(discarded.status, 200);
  assert.equal(discarded.applyWrites, false);
  assert.equal(h.store.get("public:records", b("b")), undefined);
  h.app.dispose();
});

Deno.test("app kv: a readonly endpoint cannot write (CCF's TypeError, 500 if uncaught)", async () => {
  const h = await setup();
  assert.equal(
    text(h.run({ method: "POST", path: "/ro/a" })),
    "TypeError: Cannot call .set() on read-only table named public:records in read-only " +
      "application execution context. See " +
      "https://microsoft.github.io/CCF/main/audit/read_write_restrictions.html for more detail.",
  );
  const r = h.run({ method: "POST", path: "/ro-uncaught/a" });
  assert.equal(r.status, 500);
  assert.deepEqual(json(r), EXCEPTION_BODY);
  assert.equal(h.store.lastSeqno, 0);
  h.app.dispose();
});

Deno.test("app kv: governance and internal tables are read-only or inaccessible", async () => {
  const h = await setup();
  const url = "https://microsoft.github.io/CCF/main/audit/read_write_restrictions.html";
  assert.deepEqual(json(h.run("/tables")), {
    govWrite: "TypeError: Cannot call .set() on read-only table named " +
      `public:ccf.gov.policies.key_release in application execution context. See ${url} for more detail.`,
    govRead: "ok",
    privateGov:
      "TypeError: Cannot call .get() on inaccessible table named ccf.gov.users.certs in " +
      `application execution context. See ${url} for more detail.`,
    internalRead: "ok",
    internalDelete: "TypeError: Cannot call .delete() on read-only table named " +
      `public:ccf.internal.signatures in application execution context. See ${url} for more detail.`,
    privateApp: "ok",
    inKv: true,
  });
  h.app.dispose();
});

Deno.test("app kv: a reserved ccf.* map name fails the request even if caught", async () => {
  const h = await setup();
  const r = h.run("/reserved");
  assert.equal(r.status, 500);
  assert.deepEqual(json(r), EXCEPTION_BODY);
  assert.equal(r.applyWrites, false);
  h.app.dispose();
});

Deno.test("app historical: null from getStateRange is the handler's 202; states reach it", async () => {
  const h = await setup();
  put(h, "k", "v");
  const calls: number[][] = [];
  const pending = h.run("/receipt/k", {
    getStateRange: (...args) => (calls.push(args), null),
  });
  assert.equal(pending.status, 202);
  assert.equal(pending.headers["retry-after"], "3");
  assert.deepEqual(calls, [[7, 1, 1, 1800]]);
  const receipt = {
    cert: "pem",
    leaf_components: { claims_digest: "00" },
    proof: [{ left: "ab" }],
  };
  const ready = h.run("/receipt/k", {
    getStateRange: (_h, from) => [{ transactionId: `2.${from}`, receipt }],
    dropCachedStates: () => true,
  });
  assert.deepEqual(json(ready), { transactionId: "2.1", receipt, dropped: true });
  assert.equal(h.run("/receipt/k").status, 202);
  assert.equal(
    text(h.run("/negative")),
    "RangeError: Invalid handle or seqno or expiry: cannot be negative",
  );
  h.app.dispose();
});

Deno.test("app rpc: setClaimsDigest is captured for the ledger", async () => {
  const h = await setup();
  const r = h.run({ method: "POST", path: "/claims/c" });
  assert.equal(r.status, 201);
  const expected = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode("claim")),
  );
  assert.deepEqual(r.claimsDigest, expected);
  assert.equal(h.run("/app/records/c").status, 200);
  assert.equal(h.run("/app/records/c").claimsDigest, undefined);
  h.app.dispose();
});

Deno.test("app consensus: hooks answer, with defaults from the transaction", async () => {
  const h = await setup();
  put(h, "a", "1");
  assert.deepEqual(json(h.run("/consensus")), {
    last: { view: 2, seqno: 1 },
    status: "Committed",
    view: 2,
  });
  const hooked = h.run("/consensus", {
    consensus: {
      getLastCommittedTxId: () => ({ view: 3, seqno: 9 }),
      getStatusForTxId: () => "Pending",
      getViewForSeqno: () => null,
    },
  });
  assert.deepEqual(json(hooked), { last: { view: 3, seqno: 9 }, status: "Pending", view: null });
  h.app.dispose();
});

Deno.test("app kv: each access is a new handle; handles of a map share CCF's methods", async () => {
  const h = await setup();
  const denied = "TypeError: Cannot call .set() on read-only table named public:records in " +
    "read-only application execution context. See " +
    "https://microsoft.github.io/CCF/main/audit/read_write_restrictions.html for more detail.";
  // A reused read-only interpreter answers alike every time; the read-write one of the same reuse
  // key is another interpreter, where the same map is writable.
  for (let i = 0; i < 2; i++) {
    assert.deepEqual(json(h.run("/handles")), {
      fresh: true,
      sharedMethods: true,
      name: "public:records",
      denied,
    });
    const rwAnswer = json(h.run({ method: "POST", path: "/handles-rw" })) as { denied: string };
    assert.equal(rwAnswer.denied, "ok");
  }
  assert.equal(s(h.store.get("public:records", b("k"))), "v");
  h.app.dispose();
});

Deno.test("app kv: app code replacing Map or Object.create does not break ccf.kv", async () => {
  const h = await setup();
  assert.equal(text(h.run({ method: "POST", path: "/sabotage" })), "done");
  // The same read-write interpreter: handles of a new map and of a known one still work.
  const answer = json(h.run({ method: "POST", path: "/handles-rw" })) as Record<string, unknown>;
  assert.equal(answer.denied, "ok");
  assert.equal(answer.sharedMethods, true);
  h.app.dispose();
});
