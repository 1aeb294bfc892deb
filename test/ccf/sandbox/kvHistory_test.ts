import assert from "node:assert/strict";
import { KvStore } from "../../../ccf/sandbox/kv.ts";
import { KvHistory } from "../../../ccf/sandbox/kvHistory.ts";

const b = (s: string) => new TextEncoder().encode(s);
const s = (v: Uint8Array | undefined) => v && new TextDecoder().decode(v);

Deno.test("KvHistory: the KV as it stood after each seqno, deletions and clears included", () => {
  const store = new KvStore({ history: new KvHistory() });
  const write = (f: (tx: ReturnType<KvStore["begin"]>) => void) => {
    const tx = store.begin();
    f(tx);
    store.commit(tx);
  };
  write((tx) => (tx.set("m", b("a"), b("1")), tx.set("m", b("b"), b("1"))));
  write((tx) => tx.set("m", b("a"), b("2")));
  write((tx) => tx.delete("m", b("b")));
  write((tx) => tx.clear("m"));
  const at = (seqno: number) => store.history!.stateAt(seqno);
  assert.equal(s(at(1).get("m", b("a"))), "1");
  assert.equal(at(1).size("m"), 2);
  assert.equal(s(at(2).get("m", b("a"))), "2");
  assert.equal(at(2).getVersionOfPreviousWrite("m", b("a")), 2);
  assert.equal(at(2).getVersionOfPreviousWrite("m", b("b")), 1);
  assert.equal(at(3).has("m", b("b")), false);
  const rows: string[] = [];
  at(3).forEach("m", (v, k) => rows.push(`${s(k)}=${s(v)}`));
  assert.deepEqual(rows, ["a=2"]);
  assert.equal(at(4).size("m"), 0);
  assert.equal(at(0).get("m", b("a")), undefined);
  assert.equal(at(9).get("other", b("a")), undefined);
});
