import assert from "node:assert/strict";
import { join } from "node:path";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { base64 } from "@scure/base";
import fc from "fast-check";
import { KvStore } from "../../../../ccf/sandbox/kv.ts";
import {
  Ledger,
  type LedgerEntry,
  LedgerIntegrityError,
} from "../../../../ccf/sandbox/ledger/ledger.ts";
import {
  LEDGER_FILE,
  SECRET_FILE,
  SIGNED_FILE,
  SignedMarkWriter,
} from "../../../../ccf/sandbox/ledger/ledgerFile.ts";
import { nodesEndorsedCertificates } from "../../../../ccf/sandbox/govTables.ts";
import {
  encodeSignatureRecord,
  type NodeSigner,
  SIGNATURES_MAP,
} from "../../../../ccf/sandbox/ledger/signature.ts";
import { signRoot } from "../../../fixtures/receipts.ts";
import { bytes, commit, fixtureNode, type Put, sign, storeFor } from "./_harness.ts";

const { issuer, signer } = await fixtureNode();
/** How the node opens its ledger: replay trusts the nodes the service certificate endorses. */
const trusting = { signer, serviceCertPem: issuer.serviceCertPem };
/** The write that records the fixture node, as genesis does, before its first signature. */
const nodeRecord: Put = [nodesEndorsedCertificates, signer.nodeId, signer.certPem];

interface Scratch extends Disposable {
  readonly dir: string;
  readonly file: string;
}

const scratch = (): Scratch => {
  const dir = Deno.makeTempDirSync({ prefix: "ledger-test-" });
  return {
    dir,
    file: join(dir, LEDGER_FILE),
    [Symbol.dispose]: () => Deno.removeSync(dir, { recursive: true }),
  };
};

/** Opens `dir` and runs `count` transactions, signing after every `every`; returns the ledger. */
const write = (dir: string, count: number, every: number, signAtEnd = true) => {
  const { ledger, entries } = Ledger.open(dir, trusting);
  const store = storeFor(ledger);
  entries.forEach((e) => store.replay(e.seqno, e.writes));
  for (let i = 1; i <= count; i++) {
    const n = ledger.size + 1;
    commit(
      store,
      ledger,
      [
        ["public:kms.keys", `key ${n % 17}`, i % 11 === 0 ? null : `public value ${n}`],
        ["kms.private", `private ${n % 5}`, `private value ${n}`],
        ...(n === 1 ? [nodeRecord] : []),
      ],
      n % 5 === 0 ? sha256(bytes(`claim ${n}`)) : undefined,
    );
    if (i % every === 0) sign(store, ledger);
  }
  if (signAtEnd && ledger.pendingSinceSignature > 0) sign(store, ledger);
  return { ledger, store };
};

const lines = (file: string): string[] => Deno.readTextFileSync(file).split("\n");
const writeLines = (file: string, text: string[]) => Deno.writeTextFileSync(file, text.join("\n"));
const isSignatureLine = (line: string) => line.includes(',"signature":{');

/** Everything a store holds, map by map, in a comparable form. */
const contents = (store: KvStore): Record<string, Record<string, string>> => {
  const tx = store.begin();
  return Object.fromEntries(
    store.mapNames().map((map) => {
      const rows: Record<string, string> = {};
      tx.forEach(map, (v, k) => rows[bytesToHex(k)] = bytesToHex(v));
      return [map, rows];
    }),
  );
};

const rebuild = (entries: readonly LedgerEntry[]): KvStore => {
  const store = new KvStore();
  entries.forEach((e) => store.replay(e.seqno, e.writes));
  return store;
};

Deno.test("persistence: write, close, reopen gives the same roots, receipts and store", () => {
  using tmp = scratch();
  const first = Ledger.open(tmp.dir, trusting);
  assert.equal(first.recovery, null);
  assert.deepEqual(first.entries, []);
  first.ledger.close();

  const { ledger, store } = write(tmp.dir, 250, 40);
  const size = ledger.size;
  const roots = Array.from({ length: size }, (_, i) => bytesToHex(ledger.merkleRoot(i + 1)));
  const receipts = Array.from({ length: size }, (_, i) => JSON.stringify(ledger.receiptFor(i + 1)));
  ledger.close();

  const reopened = Ledger.open(tmp.dir, trusting);
  assert.equal(reopened.recovery, null);
  assert.equal(reopened.entries.length, size);
  assert.deepEqual(reopened.entries.map((e) => e.seqno), roots.map((_, i) => i + 1));
  const again = reopened.ledger;
  assert.equal(again.size, size);
  assert.equal(again.lastSignedSeqno, size);
  assert.deepEqual(
    roots,
    Array.from({ length: size }, (_, i) => bytesToHex(again.merkleRoot(i + 1))),
  );
  assert.deepEqual(
    receipts,
    Array.from({ length: size }, (_, i) => JSON.stringify(again.receiptFor(i + 1))),
  );
  const rebuilt = rebuild(reopened.entries);
  assert.deepEqual(contents(rebuilt), contents(store));
  // Each transaction's writes read back from the file, private ones decrypted.
  for (const entry of reopened.entries) assert.deepEqual(again.writesOf(entry.seqno), entry.writes);
  assert.equal(again.writesOf(size + 1), null);
  assert.deepEqual(
    reopened.entries.filter((e) => e.claimsDigest).map((e) => bytesToHex(e.claimsDigest!)),
    roots.map((_, i) => i + 1).filter((n) =>
      n % 5 === 0 && again.receiptFor(n)?.is_signature_transaction === false
    )
      .map((n) => bytesToHex(sha256(bytes(`claim ${n}`)))),
  );

  // The node carries on where the file ended.
  commit(rebuilt, again, [["public:kms.keys", "after", "restart"]]);
  sign(rebuilt, again);
  again.close();
  const third = Ledger.open(tmp.dir, trusting);
  assert.equal(third.recovery, null);
  assert.equal(third.ledger.size, size + 2);
  assert.equal(bytesToHex(third.ledger.merkleRoot(size)), roots[size - 1]);
  third.ledger.close();
});

Deno.test("persistence: transactions after the last signature are dropped on reopen", () => {
  using tmp = scratch();
  const { ledger, store } = write(tmp.dir, 10, 10, false);
  commit(store, ledger, [["public:a", "x", "unsigned 1"]]);
  commit(store, ledger, [["kms.private", "x", "unsigned 2"]]);
  commit(store, ledger, [["public:a", "x", "unsigned 3"]]);
  assert.equal(ledger.lastSignedSeqno, 11);
  assert.equal(ledger.pendingSinceSignature, 3);
  ledger.close();
  const sizeBefore = Deno.statSync(tmp.file).size;

  const { ledger: again, entries, recovery } = Ledger.open(tmp.dir, trusting);
  assert.equal(recovery?.kind, "unsigned-tail");
  assert.equal(recovery.lastSignedSeqno, 11);
  assert.equal(recovery.droppedLines, 3);
  assert.equal(recovery.lostCommitted, 0);
  assert.equal(recovery.savedTo, undefined);
  assert.match(recovery.message, /seqno 11.*3 line\(s\).*None of it had been committed/);
  assert.equal(entries.length, 11);
  assert.equal(again.size, 11);
  assert.equal(again.txStatus(12), "Unknown");
  assert.equal(Deno.statSync(tmp.file).size, sizeBefore - recovery.droppedBytes);
  assert.ok(lines(tmp.file).at(-2)!.includes('"seqno":11,'));

  // Seqnos are reused after the cut, consecutively.
  const store2 = rebuild(entries);
  assert.equal(commit(store2, again, [["public:a", "x", "new 12"]]).seqno, 12);
  sign(store2, again);
  again.close();
  const third = Ledger.open(tmp.dir, trusting);
  assert.equal(third.recovery, null);
  assert.equal(third.entries.length, 13);
  third.ledger.close();
});

Deno.test("persistence: a crash before the first signature leaves an empty ledger", () => {
  using tmp = scratch();
  const { ledger } = write(tmp.dir, 5, 100, false);
  ledger.close();
  const { ledger: again, entries, recovery } = Ledger.open(tmp.dir, trusting);
  assert.deepEqual(entries, []);
  assert.equal(recovery?.kind, "unsigned-tail");
  assert.equal(recovery.lastSignedSeqno, 0);
  assert.match(recovery.message, /empty ledger/);
  assert.equal(lines(tmp.file).length, 2, "only the header is left");
  again.close();
});

/** A ledger with signatures at every 20th transaction (21, 42, 63, 84, 105), closed, damaged. */
const damage = (tmp: Scratch, change: (text: string[]) => string[]) => {
  const { ledger } = write(tmp.dir, 100, 20);
  const roots = Array.from({ length: ledger.size }, (_, i) => ledger.merkleRoot(i + 1));
  ledger.close();
  writeLines(tmp.file, change(lines(tmp.file)));
  return roots;
};

/** Every file of a directory, by name, for before/after comparisons. */
const files = (dir: string): Record<string, string> =>
  Object.fromEntries(
    [...Deno.readDirSync(dir)].map((
      e,
    ) => [e.name, bytesToHex(Deno.readFileSync(join(dir, e.name)))]),
  );

/** Opens a damaged ledger that must be refused; checks that no file changed; returns the error. */
const refused = (tmp: Scratch, change: (text: string[]) => string[]): LedgerIntegrityError => {
  damage(tmp, change);
  const before = files(tmp.dir);
  let error: unknown;
  try {
    Ledger.open(tmp.dir, trusting).ledger.close();
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof LedgerIntegrityError, `not refused: ${error}`);
  assert.deepEqual(files(tmp.dir), before, "a refused ledger is left as it was");
  assert.match(error.message, /changed no file.*--recover-to-last-good-signature/s);
  return error;
};

/** A crash while the last signature was written: its line is torn, the mark is still older. */
const crashDuringSignature = (tmp: Scratch, keepBytes: number) => (text: string[]) => {
  const last = text.length - 2; // the final signature; the file ends with a newline
  text[last] = text[last].slice(0, keepBytes);
  text.pop();
  SignedMarkWriter.open(join(tmp.dir, SIGNED_FILE), 84).close();
  return text;
};

/** Seqnos of the signature lines of a file. */
const signatureSeqnos = (file: string): number[] =>
  lines(file).filter(isSignatureLine).map((l) => JSON.parse(l).seqno);

Deno.test("persistence: a line torn by a crash is cut back to the previous signature", () => {
  using tmp = scratch();
  const roots = damage(tmp, crashDuringSignature(tmp, 100));
  const { recovery, entries, ledger } = Ledger.open(tmp.dir, trusting);
  ledger.close();
  assert.equal(recovery?.kind, "torn-tail");
  assert.equal(recovery.lastSignedSeqno, 84);
  assert.match(recovery.reason!, /^seqno 105 \(line 106\) is incomplete$/);
  assert.equal(recovery.droppedLines, 21);
  assert.equal(recovery.lostCommitted, 0, "a torn signature was never fsynced whole");
  assert.equal(entries.length, 84);
  assert.deepEqual(ledger.merkleRoot(), roots[83]);
  assert.deepEqual(signatureSeqnos(tmp.file), [21, 42, 63, 84]);
  assert.ok(Deno.readTextFileSync(tmp.file).endsWith("\n"));
  // A torn signature line that still shows its seqno does not count as written.
  using again = scratch();
  damage(again, crashDuringSignature(again, 30));
  const opened = Ledger.open(again.dir, trusting);
  opened.ledger.close();
  assert.equal(opened.recovery?.kind, "torn-tail");
});

Deno.test("persistence: garbage after the last signature is cut off and kept aside", () => {
  using tmp = scratch();
  damage(tmp, (text) => [...text.slice(0, -1), "garbage", '{"seqno"']);
  const { recovery, entries, ledger } = Ledger.open(tmp.dir, trusting);
  ledger.close();
  assert.equal(recovery?.kind, "corrupt-tail");
  assert.match(recovery.reason!, /^seqno 106 \(line 107\): not UTF-8 JSON$/);
  assert.equal(recovery.lastSignedSeqno, 105);
  assert.equal(entries.length, 105);
  assert.ok(recovery.savedTo);
  assert.equal(Deno.readTextFileSync(recovery.savedTo), 'garbage\n{"seqno"');
  assert.match(recovery.message, /saved to .*ledger\.discarded\.1/);
  assert.deepEqual(signatureSeqnos(tmp.file), [21, 42, 63, 84, 105]);
});

Deno.test("persistence: a truncation inside the signed part is refused", () => {
  using tmp = scratch();
  // Mid-line, as a crash would tear it, but the mark says seqno 105 was signed.
  const midLine = refused(tmp, (text) => [...text.slice(0, 70), text[70].slice(0, 50)]);
  assert.equal(midLine.seqno, 70);
  assert.match(midLine.message, /seqno 70 \(line 71\) is incomplete, but its signatures reach/);
  // At a line boundary, which the file alone cannot tell from a complete ledger.
  using boundary = scratch();
  const clean = refused(boundary, (text) => [...text.slice(0, 85), ""]);
  assert.equal(clean.seqno, 85);
  assert.match(clean.message, /the file ends at seqno 84, but its signatures reach seqno 105/);
  // A mark that is not the node's.
  Deno.writeTextFileSync(join(boundary.dir, SIGNED_FILE), '{"signed":"105"}');
  assert.throws(() => Ledger.open(boundary.dir, trusting), /not a signature mark this node wrote/);
  SignedMarkWriter.open(join(boundary.dir, SIGNED_FILE), 105).close();
  // The ledger file is gone but its mark is not.
  Deno.removeSync(boundary.file);
  assert.throws(() => Ledger.open(boundary.dir, trusting), /ledger\.jsonl is missing/);
});

Deno.test("persistence: a signature that does not verify is refused, naming its seqno", () => {
  using tmp = scratch();
  const error = refused(tmp, (text) => {
    const at = text.findIndex((l) => l.startsWith('{"seqno":63,'));
    const line = JSON.parse(text[at]);
    // A well-formed signature, by the right key, over another root: only the check can tell.
    const forged = {
      ...line.signature,
      signature: base64.encode(signRoot(issuer, sha256(bytes("another root")))),
    };
    line.signature = forged;
    line.public[0].value = base64.encode(encodeSignatureRecord(forged));
    text[at] = JSON.stringify(line);
    return text;
  });
  assert.equal(error.seqno, 63);
  assert.match(
    error.message,
    /seqno 63 \(line 64\): the signature does not verify over the root of seqnos 1\.\.62, but its signatures reach seqno 105.*last good signature is at seqno 42/s,
  );
});

Deno.test("persistence: damage anywhere in the signed part is refused", async (t) => {
  const cases: [string, (text: string[]) => string[], RegExp][] = [
    ["a signature record that disagrees with its write", (text) => {
      const at = text.findIndex((l) => l.startsWith('{"seqno":84,'));
      text[at] = text[at].replace('"node_id":"', '"node_id":"0');
      return text;
    }, /seqno 84 \(line 85\): the signature record and the signature write disagree/],
    ["a changed public value (caught by the next signature)", (text) => {
      const at = text.findIndex((l) => l.startsWith('{"seqno":50,'));
      const line = JSON.parse(text[at]);
      line.public[0].value = base64.encode(bytes("public value 5O"));
      text[at] = JSON.stringify(line);
      return text;
    }, /seqno 63 \(line 64\): .* does not sign the Merkle root of the transactions before/],
    ["a flipped byte in a private part", (text) => {
      const at = text.findIndex((l) => l.startsWith('{"seqno":30,'));
      const line = JSON.parse(text[at]);
      const sealed = base64.decode(line.private);
      sealed[20] ^= 0x80;
      line.private = base64.encode(sealed);
      text[at] = JSON.stringify(line);
      return text;
    }, /seqno 30 \(line 31\): the private writes do not decrypt/],
    ["a private part moved to another transaction", (text) => {
      const a = text.findIndex((l) => l.startsWith('{"seqno":30,'));
      const b = text.findIndex((l) => l.startsWith('{"seqno":31,'));
      const lineA = JSON.parse(text[a]);
      lineA.private = JSON.parse(text[b]).private;
      text[a] = JSON.stringify(lineA);
      return text;
    }, /seqno 30 \(line 31\): the private writes do not decrypt/],
    [
      "a missing line (gap in seqnos)",
      (text) => text.filter((l) => !l.startsWith('{"seqno":70,')),
      /seqno 70 \(line 71\): seqno 71 does not follow 69/,
    ],
    ["a flipped byte in a line's JSON", (text) => {
      const at = text.findIndex((l) => l.startsWith('{"seqno":12,'));
      text[at] = text[at].replace('"view":', '"vie\\u0000":');
      return text;
    }, /seqno 12 \(line 13\): unknown field/],
  ];
  for (const [name, change, reason] of cases) {
    await t.step(name, () => {
      using tmp = scratch();
      assert.match(refused(tmp, change).message, reason);
    });
  }
});

/**
 * A copy of the ledger in `from`, written to `to` by someone who holds its secret and a node key
 * of their own: seqno 50's public value is changed and every signature is made again by
 * `forger`, which with `recordForger` also records itself as a node in the first transaction.
 */
const forgeCopy = (from: string, to: string, forger: NodeSigner, recordForger: boolean) => {
  const original = Ledger.open(from, trusting);
  original.ledger.close();
  Deno.mkdirSync(to);
  Deno.copyFileSync(join(from, SECRET_FILE), join(to, SECRET_FILE));
  const forged = Ledger.open(to, { signer: forger, serviceCertPem: issuer.serviceCertPem });
  const store = storeFor(forged.ledger);
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  for (const e of original.entries) {
    if (e.writes.some((w) => w.map === SIGNATURES_MAP)) {
      sign(store, forged.ledger);
      continue;
    }
    const puts = e.writes.map((w): Put => [
      w.map,
      text(w.key),
      w.value && (e.seqno === 50 && w.map === "public:kms.keys" ? "forged" : text(w.value)),
    ]);
    if (e.seqno === 1 && recordForger) {
      puts.push([nodesEndorsedCertificates, forger.nodeId, forger.certPem]);
    }
    commit(store, forged.ledger, puts, e.claimsDigest);
  }
  forged.ledger.close();
};

Deno.test("persistence: a ledger re-signed by a node the service did not endorse is refused", async () => {
  using tmp = scratch();
  write(join(tmp.dir, "real"), 100, 20).ledger.close();
  // A node key and certificate of another service, as anyone can make.
  const { issuer: otherService, signer: forger } = await fixtureNode();
  for (
    const [recordForger, reason] of [
      [false, /seqno 21 \(line 22\): node \w+ signed, but the ledger never recorded it/],
      [true, /seqno 21 \(line 22\): node \w+'s certificate is not endorsed by the service/],
    ] as const
  ) {
    const dir = join(tmp.dir, `forged-${recordForger}`);
    forgeCopy(join(tmp.dir, "real"), dir, forger, recordForger);
    if (recordForger) {
      // The forgery is consistent in itself: it replays for whoever trusts the forger's service.
      const opts = { signer: forger, serviceCertPem: otherService.serviceCertPem };
      const forged = Ledger.open(dir, opts);
      forged.ledger.close();
      assert.equal(forged.recovery, null);
    }
    const before = files(dir);
    let error: unknown;
    try {
      Ledger.open(dir, trusting).ledger.close();
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof LedgerIntegrityError, `accepted: ${error}`);
    assert.equal(error.seqno, 21);
    assert.match(error.message, reason);
    assert.deepEqual(files(dir), before);
  }
});

Deno.test("persistence: the operator's flag cuts a damaged ledger back, saving what it removed", () => {
  using tmp = scratch();
  damage(tmp, (text) => {
    const at = text.findIndex((l) => l.startsWith('{"seqno":50,'));
    const line = JSON.parse(text[at]);
    line.public[0].value = base64.encode(bytes("public value 5O"));
    text[at] = JSON.stringify(line);
    return text;
  });
  const original = Deno.readFileSync(tmp.file);
  const { ledger, entries, recovery } = Ledger.open(tmp.dir, {
    ...trusting,
    recoverToLastGoodSignature: true,
  });
  ledger.close();
  assert.equal(recovery?.kind, "recovered");
  assert.equal(recovery.lastSignedSeqno, 42);
  assert.equal(recovery.lostCommitted, 63);
  assert.equal(entries.length, 42);
  assert.match(recovery.message, /63 committed transaction\(s\) were lost \(seqnos 43\.\.105\)/);
  const kept = Deno.readFileSync(tmp.file);
  assert.deepEqual(
    [...kept, ...Deno.readFileSync(recovery.savedTo!)],
    [...original],
    "the removed bytes are saved whole",
  );
  // The mark follows the cut: the next start needs no flag.
  const again = Ledger.open(tmp.dir, trusting);
  again.ledger.close();
  assert.equal(again.recovery, null);
  assert.equal(again.entries.length, 42);
});

Deno.test("persistence: a ledger of version 1 is refused with what to do", () => {
  using tmp = scratch();
  write(tmp.dir, 3, 3).ledger.close();
  const text = lines(tmp.file);
  text[0] = '{"format":"ccf-sandbox-ledger","version":1}';
  writeLines(tmp.file, text);
  assert.throws(() => Ledger.open(tmp.dir, trusting), /older sandbox.*start a new one/);
});

Deno.test("persistence: private maps are encrypted in the file, public ones are not", () => {
  using tmp = scratch();
  const { ledger, entries } = Ledger.open(tmp.dir, trusting);
  const store = rebuild(entries);
  commit(store, ledger, [nodeRecord]);
  const privateValue = "PRIVATE-d1f0c3-release-key-material";
  const publicValue = "PUBLIC-7a2b9e-key-config";
  commit(store, ledger, [
    ["public:kms.keyconfig", "kid-1", publicValue],
    ["kms.private_keys", "kid-1-private", privateValue],
  ]);
  sign(store, ledger);
  ledger.close();

  const file = Deno.readFileSync(tmp.file);
  const text = new TextDecoder().decode(file);
  const contains = (needle: Uint8Array) => {
    outer: for (let i = 0; i + needle.length <= file.length; i++) {
      for (let j = 0; j < needle.length; j++) if (file[i + j] !== needle[j]) continue outer;
      return true;
    }
    return false;
  };
  for (const secret of [privateValue, "kid-1-private", "kms.private_keys"]) {
    assert.ok(!contains(bytes(secret)), `${secret} in the clear`);
    assert.ok(!text.includes(base64.encode(bytes(secret))), `${secret} in base64`);
    assert.ok(!text.includes(bytesToHex(bytes(secret))), `${secret} in hex`);
  }
  // Base64 of a substring at any alignment: drop the partial groups at both ends.
  for (let shift = 0; shift < 3; shift++) {
    const inner = base64.encode(bytes(`xx${privateValue}`.slice(shift)));
    assert.ok(!text.includes(inner.slice(4, -4)), `private value in base64 (shift ${shift})`);
  }
  assert.ok(text.includes(base64.encode(bytes(publicValue))));
  assert.ok(text.includes('"map":"public:kms.keyconfig"'));

  const reopened = Ledger.open(tmp.dir, trusting);
  const restored = rebuild(reopened.entries);
  assert.equal(
    new TextDecoder().decode(restored.get("kms.private_keys", bytes("kid-1-private"))),
    privateValue,
  );
  reopened.ledger.close();
});

Deno.test("persistence: the secret file is private and required", () => {
  using tmp = scratch();
  const { ledger } = write(tmp.dir, 3, 3);
  ledger.close();
  const secretPath = join(tmp.dir, SECRET_FILE);
  if (Deno.build.os !== "windows") {
    assert.equal(Deno.statSync(secretPath).mode! & 0o777, 0o600);
    Deno.chmodSync(secretPath, 0o644);
    assert.throws(() => Ledger.open(tmp.dir, trusting), /chmod 600/);
    Deno.chmodSync(secretPath, 0o600);
  }
  const reopened = Ledger.open(tmp.dir, trusting);
  assert.equal(reopened.entries.length, 4);
  reopened.ledger.close();

  Deno.removeSync(secretPath);
  assert.throws(() => Ledger.open(tmp.dir, trusting), /without its secret/);
});

Deno.test("persistence: a file that is not a ledger is left alone", () => {
  using tmp = scratch();
  Deno.writeTextFileSync(tmp.file, '{"something":"else"}\n');
  Deno.writeTextFileSync(join(tmp.dir, SECRET_FILE), "", { mode: 0o600 });
  Deno.removeSync(join(tmp.dir, SECRET_FILE));
  assert.throws(() => Ledger.open(tmp.dir, trusting), /without its secret/);
  const { ledger } = write(join(tmp.dir, "real"), 1, 1);
  ledger.close();
  Deno.copyFileSync(join(tmp.dir, "real", SECRET_FILE), join(tmp.dir, SECRET_FILE));
  assert.throws(() => Ledger.open(tmp.dir, trusting), /not a ccf-sandbox ledger file/);
  assert.equal(Deno.readTextFileSync(tmp.file), '{"something":"else"}\n');
});

Deno.test("persistence: a long replay reports its progress every 16 MiB", () => {
  using tmp = scratch();
  const { ledger, entries } = Ledger.open(tmp.dir, trusting);
  const store = rebuild(entries);
  commit(store, ledger, [nodeRecord]);
  const big = "x".repeat(2 ** 20); // 1.33 MiB per line once in base64
  for (let i = 0; i < 30; i++) commit(store, ledger, [["public:big", `${i % 3}`, big]]);
  sign(store, ledger);
  ledger.close();
  const reports: [number, number][] = [];
  const total = Deno.statSync(tmp.file).size;
  const reopened = Ledger.open(tmp.dir, { ...trusting, progress: (d, t) => reports.push([d, t]) });
  reopened.ledger.close();
  assert.equal(reports.length, Math.floor(total / 2 ** 24));
  reports.forEach(([done, all], i) => {
    assert.equal(all, total);
    assert.ok(done >= (i + 1) * 2 ** 24 && done < (i + 2) * 2 ** 24, `${done}`);
  });
});

Deno.test("persistence: no flipped byte of the signed part opens as a different ledger", () => {
  using tmp = scratch();
  const { ledger } = write(tmp.dir, 30, 10);
  const roots = bytesToHex(ledger.merkleRoot());
  ledger.close();
  const original = Deno.readFileSync(tmp.file);
  const headerEnd = original.indexOf(0x0a) + 1;
  fc.assert(
    fc.property(
      fc.integer({ min: headerEnd, max: original.length - 2 }), // the last newline stays
      fc.integer({ min: 1, max: 255 }),
      (at, mask) => {
        const flipped = original.slice();
        flipped[at] ^= mask;
        Deno.writeFileSync(tmp.file, flipped);
        try {
          const opened = Ledger.open(tmp.dir, trusting);
          opened.ledger.close();
          // Only a flip that changes nothing the ledger reads may open, as the same ledger.
          assert.equal(bytesToHex(opened.ledger.merkleRoot()), roots);
          assert.equal(opened.recovery, null);
        } catch (e) {
          assert.ok(e instanceof LedgerIntegrityError, String(e));
          assert.deepEqual(Deno.readFileSync(tmp.file), flipped, "a refused ledger is unchanged");
        }
      },
    ),
    { numRuns: 150 },
  );
});
