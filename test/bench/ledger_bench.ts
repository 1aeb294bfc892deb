/**
 * Receipt generation by the sandbox ledger at 1k, 100k and 1M transactions: the cost per receipt
 * must grow with log(n) (the proof length), not with n. The ledgers are built in memory first,
 * with a signature every 5000 transactions (cchost's default cadence); their memory use and a
 * median per-receipt time (less disturbed by garbage collection than the averages of the bench
 * table) are printed first. Building the 1M ledger takes tens of seconds: every transaction costs
 * about ten SHA-256 compressions in JavaScript.
 * Run: deno bench -A test/bench/ledger_bench.ts   (add --v8-flags=--expose-gc for exact memory)
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import {
  encodeSignatureRecord,
  type KvCommit,
  Ledger,
  signatureKey,
  SIGNATURES_MAP,
} from "@kms/sandbox";
import { createReceiptIssuer, signRoot } from "../fixtures/receipts.ts";

const SIZES = [1_000, 100_000, 1_000_000];
const SIGNATURE_EVERY = 5_000;
const VIEW = 2;

const issuer = await createReceiptIssuer();
const signer = {
  certPem: issuer.nodeCertPem,
  nodeId: bytesToHex(sha256(new TextEncoder().encode(issuer.nodeCertPem))),
  sign: (root: Uint8Array) => signRoot(issuer, root),
};

const commitOf = (seqno: number, writes: KvCommit["writes"]): KvCommit => ({
  view: VIEW,
  seqno,
  txId: `${VIEW}.${seqno}`,
  writes,
});

const key = new Uint8Array(8);
const value = new Uint8Array(64);

/** A ledger of `size` application transactions (plus signatures), all committed. */
const build = (size: number): Ledger => {
  const ledger = Ledger.inMemory({ signer, view: VIEW });
  const claims = sha256(value);
  for (let applied = 0; applied < size;) {
    new DataView(key.buffer).setUint32(4, applied);
    ledger.append(
      commitOf(ledger.size + 1, [{ map: "public:bench", key: key.slice(), value }]),
      applied % 10 === 0 ? claims : undefined,
    );
    applied++;
    if (applied % SIGNATURE_EVERY === 0 || applied === size) {
      const record = encodeSignatureRecord(ledger.signatureRecord());
      ledger.append(
        commitOf(ledger.size + 1, [{ map: SIGNATURES_MAP, key: signatureKey(), value: record }]),
      );
    }
  }
  return ledger;
};

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

const gc = (globalThis as { gc?: () => void }).gc;

// Typed-array buffers (the tree, the digests) live outside the JS heap: count both.
const used = () => {
  gc?.();
  const { heapUsed, external } = Deno.memoryUsage();
  return heapUsed + external;
};

const ledgers = new Map<number, Ledger>();
for (const size of SIZES) {
  const before = used();
  const started = performance.now();
  const ledger = build(size);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const memory = used() - before;
  ledgers.set(size, ledger);
  console.log(
    `ledger of ${size} transactions: built in ${seconds} s, heap + external ` +
      `+${mib(memory)} (${(memory / ledger.size).toFixed(0)} bytes per transaction` +
      `${gc ? "" : ", garbage included"}), Merkle depth ${Math.ceil(Math.log2(ledger.size))}`,
  );
}

/** Median over batches of the time of one receipt, in µs, for seqnos spread over the ledger. */
const medianReceiptTime = (ledger: Ledger): number => {
  const batches: number[] = [];
  for (let b = 0; b < 31; b++) {
    const started = performance.now();
    for (let i = 0; i < 500; i++) {
      ledger.receiptFor(1 + ((b * 500 + i) * 7919) % ledger.lastSignedSeqno);
    }
    batches.push((performance.now() - started) * 1000 / 500);
  }
  return batches.sort((x, y) => x - y)[15];
};

for (const size of SIZES) {
  medianReceiptTime(ledgers.get(size)!);
}
for (const size of SIZES) {
  const time = medianReceiptTime(ledgers.get(size)!).toFixed(1);
  console.log(`receiptFor at ${size} transactions: median ${time} µs per receipt`);
}

for (const size of SIZES) {
  const ledger = ledgers.get(size)!;
  // A fixed stride walks receipts all over the tree, so no one path stays in the CPU caches.
  let next = 1;
  const stride = 7919;
  Deno.bench(`receiptFor at ${size.toLocaleString("en")} transactions`, {
    group: "receiptFor",
    baseline: size === SIZES[0],
  }, () => {
    next = (next + stride) % ledger.lastSignedSeqno + 1;
    if (ledger.receiptFor(next) === null) throw new Error(`no receipt for ${next}`);
  });
  Deno.bench(`receipt JSON at ${size.toLocaleString("en")} transactions`, {
    group: "receipt JSON",
    baseline: size === SIZES[0],
  }, () => {
    next = (next + stride) % ledger.lastSignedSeqno + 1;
    JSON.stringify(ledger.receiptFor(next));
  });
}
