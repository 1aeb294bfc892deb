/**
 * The sandbox ledger's Merkle tree: append-only, with historical roots and inclusion proofs.
 *
 * The shape is CCF's (and RFC 6962 §2.1's): the tree of `m` leaves splits at the largest power of
 * two smaller than `m`, inner nodes are SHA-256(left ‖ right) with no domain prefix, and leaves are
 * the 32-byte hashes the ledger computes. Equivalently, the first `m` leaves form one complete
 * subtree per set bit of `m` (its "peaks", largest first) and the root folds them from the right:
 * `h(P1, h(P2, … h(Pr-1, Pr)))`.
 *
 * Every complete subtree is kept, level by level, in flat byte buffers (about 2 × 32 bytes per
 * leaf). A peak of any prefix of the tree is such a subtree, so the root of the first `m` leaves
 * and the proof of any leaf in it cost O(log n) hashes and reads, whatever `m` is: a signature
 * signs the tree as it was, and its receipts are generated long after.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";

/** Size of a leaf and of every node. */
export const HASH_SIZE = 32;

// Beyond this, `1 << level` arithmetic on tree sizes would overflow 32-bit integers.
const MAX_LEAVES = 2 ** 31 - 1;

/** One step of an inclusion proof: the sibling hash and the side it sits on. */
export interface MerkleStep {
  readonly side: "left" | "right";
  readonly hash: Uint8Array;
}

/** A proof step in CCF's receipt JSON: `{left: hex}` or `{right: hex}`. */
export type ProofElement = { readonly left: string } | { readonly right: string };

const scratch = new Uint8Array(2 * HASH_SIZE);

/** SHA-256(left ‖ right): an inner node of the tree. */
const hashPair = (left: Uint8Array, right: Uint8Array): Uint8Array => {
  scratch.set(left, 0);
  scratch.set(right, HASH_SIZE);
  return sha256(scratch);
};

/**
 * A growable array of 32-byte hashes in one buffer, so that a million leaves are not a million
 * objects.
 */
export class HashList {
  #bytes = new Uint8Array(HASH_SIZE * 64);
  #count = 0;

  /** Number of hashes held. */
  get count(): number {
    return this.#count;
  }

  /** A view into the buffer, valid until the next push or truncate: copy it to keep it. */
  at(i: number): Uint8Array {
    return this.#bytes.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE);
  }

  /** Appends a copy of `hash`. */
  push(hash: Uint8Array): void {
    const end = (this.#count + 1) * HASH_SIZE;
    if (end > this.#bytes.length) {
      const grown = new Uint8Array(this.#bytes.length * 2);
      grown.set(this.#bytes);
      this.#bytes = grown;
    }
    this.#bytes.set(hash, this.#count * HASH_SIZE);
    this.#count++;
  }

  /** Keeps the first `count` hashes. */
  truncate(count: number): void {
    this.#count = Math.min(this.#count, count);
  }
}

interface Peak {
  readonly level: number;
  readonly index: number;
  /** First leaf it covers. */
  readonly offset: number;
}

/** The complete subtrees that make up the tree of the first `m` leaves, largest (leftmost) first. */
const peaksOf = (m: number): Peak[] => {
  const peaks: Peak[] = [];
  let offset = 0;
  for (let level = 30; level >= 0; level--) {
    const width = 1 << level;
    if ((m & width) !== 0) {
      peaks.push({ level, index: offset >>> level, offset });
      offset += width;
    }
  }
  return peaks;
};

/** An append-only Merkle tree over 32-byte leaves; see the module documentation for its shape. */
export class MerkleTree {
  /** `#levels[l]` holds the roots of the complete subtrees of 2^l leaves, left to right. */
  readonly #levels: HashList[] = [new HashList()];

  /** Number of leaves. */
  get size(): number {
    return this.#levels[0].count;
  }

  /** Appends a 32-byte leaf and the complete subtrees it closes. */
  append(leaf: Uint8Array): void {
    if (leaf.length !== HASH_SIZE) {
      throw new RangeError(`A Merkle leaf is ${HASH_SIZE} bytes, not ${leaf.length}`);
    }
    if (this.size >= MAX_LEAVES) throw new RangeError("The Merkle tree is full");
    this.#levels[0].push(leaf);
    for (let l = 0; this.#levels[l].count % 2 === 0; l++) {
      const level = this.#levels[l];
      const parent = hashPair(level.at(level.count - 2), level.at(level.count - 1));
      if (this.#levels.length === l + 1) this.#levels.push(new HashList());
      this.#levels[l + 1].push(parent);
    }
  }

  /** A copy of leaf `i`. */
  leaf(i: number): Uint8Array {
    this.#checkIndex(i, this.size);
    return this.#levels[0].at(i).slice();
  }

  /** Root of the tree of the first `m` leaves (default: all of them). */
  root(m: number = this.size): Uint8Array {
    this.#checkSize(m);
    const peaks = peaksOf(m);
    return this.#foldFrom(peaks, 0);
  }

  /**
   * Inclusion proof of leaf `i` in the tree of the first `m` leaves, from the leaf upwards:
   * walking it (`left` → h(L ‖ x), `right` → h(x ‖ R)) from the leaf gives `root(m)`.
   */
  path(i: number, m: number = this.size): MerkleStep[] {
    const steps: MerkleStep[] = [];
    this.#walk(i, m, (side, hash) => steps.push({ side, hash: hash.slice() }));
    return steps;
  }

  /** {@link path} in CCF's receipt form, hashes as lowercase hex. */
  proof(i: number, m: number = this.size): ProofElement[] {
    const steps: ProofElement[] = [];
    // Hex straight from the stored nodes: receipts are generated often, copies would be garbage.
    this.#walk(
      i,
      m,
      (side, hash) =>
        steps.push(side === "left" ? { left: bytesToHex(hash) } : { right: bytesToHex(hash) }),
    );
    return steps;
  }

  /** Forgets every leaf from index `m` on, as if only `m` had been appended. */
  truncate(m: number): void {
    if (!Number.isInteger(m) || m < 0 || m > this.size) {
      throw new RangeError(`Cannot truncate a tree of ${this.size} leaves to ${m}`);
    }
    this.#levels.forEach((level, l) => level.truncate(Math.floor(m / 2 ** l)));
  }

  /** Calls `step` for each sibling from leaf `i` up to the root of `m`, with a transient view. */
  #walk(i: number, m: number, step: (side: MerkleStep["side"], hash: Uint8Array) => void): void {
    this.#checkSize(m);
    this.#checkIndex(i, m);
    const peaks = peaksOf(m);
    const j = peaks.findIndex((p) => i < p.offset + (1 << p.level));
    // Inside a complete subtree, siblings are stored nodes; indices are absolute because every
    // peak starts at a multiple of its width.
    for (let l = 0; l < peaks[j].level; l++) {
      const at = i >>> l;
      step((at & 1) === 1 ? "left" : "right", this.#levels[l].at(at ^ 1));
    }
    if (j < peaks.length - 1) step("right", this.#foldFrom(peaks, j + 1));
    for (let k = j - 1; k >= 0; k--) step("left", this.#node(peaks[k]));
  }

  #node(p: Peak): Uint8Array {
    return this.#levels[p.level].at(p.index);
  }

  /** Root of the subtree made of `peaks[from..]`: the right fold of those peaks. */
  #foldFrom(peaks: readonly Peak[], from: number): Uint8Array {
    let acc: Uint8Array = this.#node(peaks[peaks.length - 1]).slice();
    for (let k = peaks.length - 2; k >= from; k--) acc = hashPair(this.#node(peaks[k]), acc);
    return acc;
  }

  #checkSize(m: number): void {
    if (!Number.isInteger(m) || m < 1 || m > this.size) {
      throw new RangeError(`No tree of ${m} leaves: the tree has ${this.size}`);
    }
  }

  #checkIndex(i: number, m: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= m) {
      throw new RangeError(`Leaf ${i} is not in a tree of ${m} leaves`);
    }
  }
}
