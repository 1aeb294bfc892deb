import assert from "node:assert/strict";
import fc from "fast-check";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import {
  type MerkleStep,
  MerkleTree,
  type ProofElement,
} from "../../../../ccf/sandbox/ledger/merkle.ts";
import { merkleLevels, merkleProof } from "../../../fixtures/receipts.ts";

// The reference is RFC 6962 §2.1 written as literally as possible, with its own hashing, so that
// it shares nothing with the implementation under test.
const node = (l: Uint8Array, r: Uint8Array): Uint8Array => {
  const both = new Uint8Array(64);
  both.set(l);
  both.set(r, 32);
  return sha256(both);
};

const split = (n: number): number => {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
};

const referenceRoot = (leaves: readonly Uint8Array[]): Uint8Array => {
  if (leaves.length === 1) return leaves[0];
  const k = split(leaves.length);
  return node(referenceRoot(leaves.slice(0, k)), referenceRoot(leaves.slice(k)));
};

const referencePath = (i: number, leaves: readonly Uint8Array[]): MerkleStep[] => {
  if (leaves.length === 1) return [];
  const k = split(leaves.length);
  return i < k
    ? [...referencePath(i, leaves.slice(0, k)), {
      side: "right",
      hash: referenceRoot(leaves.slice(k)),
    }]
    : [...referencePath(i - k, leaves.slice(k)), {
      side: "left",
      hash: referenceRoot(leaves.slice(0, k)),
    }];
};

/** The receipt walk that CCF's receipts documentation gives, over the hex proof form. */
const walk = (leaf: Uint8Array, proof: readonly ProofElement[]): Uint8Array =>
  proof.reduce(
    (h, p) => "left" in p ? node(hexToBytes(p.left), h) : node(h, hexToBytes(p.right)),
    leaf,
  );

const leafAt = (i: number): Uint8Array => sha256(new TextEncoder().encode(`leaf ${i}`));

const LEAVES = Array.from({ length: 1100 }, (_, i) => leafAt(i));
const TREE = new MerkleTree();
LEAVES.forEach((l) => TREE.append(l));

const prefixAndIndex = fc.integer({ min: 1, max: LEAVES.length }).chain((m) =>
  fc.tuple(fc.constant(m), fc.integer({ min: 0, max: m - 1 }))
);

Deno.test("merkle: historical roots equal the RFC 6962 reference root of the prefix", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: LEAVES.length }), (m) => {
      assert.deepEqual(TREE.root(m), referenceRoot(LEAVES.slice(0, m)));
    }),
    { numRuns: 300 },
  );
});

Deno.test("merkle: the proof of leaf i in the tree of m walks to root(m), as the reference", () => {
  fc.assert(
    fc.property(prefixAndIndex, ([m, i]) => {
      const proof = TREE.proof(i, m);
      assert.deepEqual(walk(LEAVES[i], proof), TREE.root(m));
      assert.deepEqual(TREE.path(i, m), referencePath(i, LEAVES.slice(0, m)));
      assert.ok(proof.length <= Math.ceil(Math.log2(m)));
    }),
    { numRuns: 500 },
  );
});

Deno.test("merkle: every proof of every small tree, around powers of two", () => {
  for (const m of [1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65]) {
    const root = referenceRoot(LEAVES.slice(0, m));
    for (let i = 0; i < m; i++) {
      assert.deepEqual(walk(LEAVES[i], TREE.proof(i, m)), root, `leaf ${i} of ${m}`);
    }
  }
});

Deno.test("merkle: a tree built incrementally answers for each size as it grows", () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { minLength: 1, maxLength: 70 }),
      (leaves) => {
        const tree = new MerkleTree();
        leaves.forEach((leaf, n) => {
          tree.append(leaf);
          assert.equal(tree.size, n + 1);
          assert.equal(bytesToHex(tree.root()), bytesToHex(referenceRoot(leaves.slice(0, n + 1))));
          assert.deepEqual(tree.leaf(n), leaf);
        });
      },
    ),
    { numRuns: 60 },
  );
});

Deno.test("merkle: truncate then append is the tree of the new leaves", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 300 }),
      fc.integer({ min: 0, max: 300 }),
      fc.integer({ min: 1, max: 40 }),
      (n, cut, more) => {
        const keep = Math.min(cut, n);
        const tree = new MerkleTree();
        LEAVES.slice(0, n).forEach((l) => tree.append(l));
        tree.truncate(keep);
        const fresh = LEAVES.slice(500, 500 + more);
        fresh.forEach((l) => tree.append(l));
        const expected = [...LEAVES.slice(0, keep), ...fresh];
        assert.deepEqual(tree.root(), referenceRoot(expected));
        const i = (n * 7) % expected.length;
        assert.deepEqual(walk(expected[i], tree.proof(i)), tree.root());
      },
    ),
    { numRuns: 150 },
  );
});

Deno.test("merkle: returned hashes are copies, unaffected by later appends", () => {
  const tree = new MerkleTree();
  LEAVES.slice(0, 5).forEach((l) => tree.append(l));
  const root = tree.root();
  const path = tree.path(4);
  LEAVES.slice(5, 200).forEach((l) => tree.append(l));
  assert.deepEqual(root, referenceRoot(LEAVES.slice(0, 5)));
  assert.deepEqual(path, referencePath(4, LEAVES.slice(0, 5)));
  root.fill(0);
  assert.deepEqual(tree.root(5), referenceRoot(LEAVES.slice(0, 5)));
});

Deno.test("merkle: out-of-range sizes, indices and leaves are refused", () => {
  const tree = new MerkleTree();
  assert.throws(() => tree.root(), RangeError);
  tree.append(LEAVES[0]);
  assert.deepEqual(tree.root(), LEAVES[0]);
  assert.deepEqual(tree.proof(0), []);
  assert.throws(() => tree.root(2), RangeError);
  assert.throws(() => tree.root(0), RangeError);
  assert.throws(() => tree.path(1, 1), RangeError);
  assert.throws(() => tree.path(-1), RangeError);
  assert.throws(() => tree.path(0.5), RangeError);
  assert.throws(() => tree.append(new Uint8Array(31)), RangeError);
  assert.throws(() => tree.truncate(2), RangeError);
});

Deno.test("merkle: same roots and proofs as the receipt fixture's bottom-up tree", () => {
  for (const m of [1, 2, 3, 5, 6, 7, 11, 12, 13, 100, 129]) {
    const levels = merkleLevels(LEAVES.slice(0, m));
    assert.deepEqual(TREE.root(m), levels[levels.length - 1][0]);
    for (const i of [0, m >> 1, m - 1]) assert.deepEqual(TREE.path(i, m), merkleProof(levels, i));
  }
});
