/**
 * The sandbox's ledger: every committed transaction as a Merkle leaf, signature transactions over
 * the tree, CCF-format receipts, and a durable file replayed on restart.
 *
 * The node drives it, synchronously, right after each {@link KvStore.commit}:
 *
 * ```ts
 * const commit = store.commit(tx);
 * if (commit) ledger.append(commit, claimsDigest);
 * if (ledger.pendingSinceSignature >= 100) {          // cadence: the node's choice
 *   const sig = store.begin();
 *   sig.set(SIGNATURES_MAP, signatureKey(), encodeSignatureRecord(ledger.signatureRecord()));
 *   ledger.append(store.commit(sig)!);
 * }
 * ```
 *
 * Leaf of a transaction (CCF's receipts documentation): SHA-256(write_set_digest ‖
 * SHA-256(utf8(commit_evidence)) ‖ claims_digest), the last part only when the app set one;
 * write_set_digest is SHA-256 of the canonical plaintext write set (writeSet.ts); commit evidence
 * comes from the ledger secret (secrets.ts). A signature transaction signs the root of every leaf
 * before it and is then a leaf itself.
 *
 * Durability guarantee (file-backed ledgers, see ledgerFile.ts for the format):
 * - `append` writes each transaction's line at once (to the OS); a signature transaction's line
 *   is followed by an fsync before `append` returns, then by the update of `ledger.signed`. Only
 *   then does the ledger count the transactions it covers as committed: `txStatus` says
 *   `Committed` and `receiptFor` answers. So whatever is `Committed`, or has a receipt, survives a
 *   process crash and a power loss (on storage that honours fsync), and is replayed by
 *   {@link Ledger.open}.
 * - Transactions after the last signature are `Pending`. A crash may lose them; on open they are
 *   dropped even when intact, because nobody was ever told they were committed and their commit
 *   evidence was never revealed. The node then begins a new view ({@link Ledger.beginView}), so
 *   that their ids read `Invalid`, never `Committed` (as after a CCF recovery).
 *
 * Integrity (as CCF's): replay verifies every line (JSON shape, consecutive seqnos, private part
 * authenticated) and every signature over the recomputed root, by the key of a node certificate
 * that the ledger recorded in `public:ccf.gov.nodes.endorsed_certificates` before that signature
 * and that the service certificate endorses. A torn or damaged tail after the last signature on
 * disk is cut back: it was never committed. Anything wrong at or before that signature, or a file
 * that ends before it (`ledger.signed` says where it is), is tampering or a disk fault: `open`
 * throws a {@link LedgerIntegrityError} naming the seqno and changes no file. Only the operator's
 * explicit `recoverToLastGoodSignature` cuts such a ledger back, saving the removed bytes in
 * `ledger.discarded.<n>` and reporting how many committed transactions were lost.
 */
import { join } from "node:path";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { base64 } from "@scure/base";
import { DEFAULT_VIEW, type KvCommit, type KvWrite } from "../kv.ts";
import { nodesEndorsedCertificates } from "../govTables.ts";
import { HASH_SIZE, HashList, MerkleTree, type ProofElement } from "./merkle.ts";
import {
  createSecretFile,
  type LedgerSecret,
  ledgerSecret,
  newLedgerSecret,
  readSecretFile,
} from "./secrets.ts";
import {
  decodeSignatureRecord,
  encodeSignatureRecord,
  isEndorsedBy,
  type NodeSigner,
  type SignatureRecord,
  SIGNATURES_MAP,
  verifyRootSignature,
} from "./signature.ts";
import {
  decodeEntryLine,
  encodeEntryLine,
  HEADER_LINE,
  LEDGER_FILE,
  LedgerWriter,
  linesOf,
  readSignedMark,
  SECRET_FILE,
  SIGNED_FILE,
  SignedMarkWriter,
  type StoredEntry,
  syncDirectory,
  VERSION_1_HEADER_LINE,
} from "./ledgerFile.ts";
import { writeSetDigest } from "./writeSet.ts";

/** CCF's transaction statuses (`ccf.consensus.getStatusForTxId`, `/app/tx`). */
export type TxStatus = "Unknown" | "Pending" | "Committed" | "Invalid";

/** The receipt of a transaction that is not a signature, as CCF's JavaScript API gives it. */
export interface TxReceipt {
  /** Base64 DER ECDSA signature of the Merkle root by the node key. */
  readonly signature: string;
  /** PEM of the node certificate that signed. */
  readonly cert: string;
  /** The signing node's id. */
  readonly node_id: string;
  /** False: an ordinary transaction. */
  readonly is_signature_transaction: false;
  /** What the transaction's Merkle leaf is computed from (hex). */
  readonly leaf_components: {
    readonly write_set_digest: string;
    readonly commit_evidence: string;
    readonly claims_digest?: string;
  };
  /** The path from the leaf to the signed root. */
  readonly proof: ProofElement[];
}

/** The receipt of a signature transaction: its own signature over the root it records. */
export interface SignatureTxReceipt {
  /** Base64 DER ECDSA signature of the Merkle root by the node key. */
  readonly signature: string;
  /** PEM of the node certificate that signed. */
  readonly cert: string;
  /** The signing node's id. */
  readonly node_id: string;
  /** True: a signature transaction. */
  readonly is_signature_transaction: true;
  /** The Merkle root the signature transaction records, hex. */
  readonly root_hex: string;
}

/** What `receiptFor` returns once a transaction is committed. */
export type LedgerReceipt = TxReceipt | SignatureTxReceipt;

/** A transaction replayed from the file, for the node to commit again in order. */
export interface LedgerEntry {
  /** The transaction's seqno. */
  readonly seqno: number;
  /** The view it was committed in. */
  readonly view: number;
  /** Its write set. */
  readonly writes: readonly KvWrite[];
  /** The claims digest bound to it, if any. */
  readonly claimsDigest?: Uint8Array;
}

/** What {@link Ledger.open} cut from the file, and why; `message` is meant for the node's log. */
export interface LedgerRecovery {
  /**
   * `unsigned-tail`: intact transactions after the last signature, never committed.
   * `torn-tail`: the last line was cut short by a crash (plus any unsigned transactions).
   * `corrupt-tail`: a complete line after the last signature failed a check; see `reason`.
   * `recovered`: the signed part was damaged or cut short, and the operator asked to recover to
   * the last good signature: committed transactions were lost (`lostCommitted`).
   */
  readonly kind: "unsigned-tail" | "torn-tail" | "corrupt-tail" | "recovered";
  /** What happened, for the node's log. */
  readonly message: string;
  /** The failed check, with its seqno and line; absent for `unsigned-tail`. */
  readonly reason?: string;
  /** Seqno of the last signature kept (0: none, the ledger restarts empty). */
  readonly lastSignedSeqno: number;
  /** Lines removed, torn or not. */
  readonly droppedLines: number;
  /** Bytes removed. */
  readonly droppedBytes: number;
  /** Committed transactions removed: above 0 only for `recovered`. */
  readonly lostCommitted: number;
  /** Where the removed bytes were saved (`corrupt-tail` and `recovered`). */
  readonly savedTo?: string;
}

/**
 * The ledger on disk fails a check at or before its last signature, or ends before it: it was
 * altered or damaged after it was written. {@link Ledger.open} changed no file.
 */
export class LedgerIntegrityError extends Error {
  /** The first seqno that failed, or the first one missing. */
  readonly seqno: number;

  /** `seqno`: the first that failed; `message` says what, and what the operator may do. */
  constructor(seqno: number, message: string) {
    super(message);
    this.name = "LedgerIntegrityError";
    this.seqno = seqno;
  }
}

/** Options of every ledger. */
export interface LedgerOptions {
  /** Signs the Merkle root of each signature transaction. */
  readonly signer: NodeSigner;
}

/** Options of {@link Ledger.inMemory}. */
export interface MemoryLedgerOptions extends LedgerOptions {
  /** The 32-byte ledger secret (default: a random one). */
  readonly secret?: Uint8Array;
  /** View of the first transactions (default {@link DEFAULT_VIEW}). */
  readonly view?: number;
}

/** Options of {@link Ledger.open}. */
export interface FileLedgerOptions extends LedgerOptions {
  /** PEM of the service certificate: it must endorse every node certificate that signed. */
  readonly serviceCertPem: string;
  /**
   * Cut a ledger damaged at or before its last signature back to the last good signature
   * instead of refusing it (the operator's `--recover-to-last-good-signature`).
   */
  readonly recoverToLastGoodSignature?: boolean;
  /** Told how many bytes of the file replay has verified, every 16 MiB: a long replay shows. */
  readonly progress?: (verifiedBytes: number, totalBytes: number) => void;
}

/** The result of {@link Ledger.open}. */
export interface OpenedLedger {
  /** The ledger, ready to append after the last surviving transaction. */
  readonly ledger: Ledger;
  /** Every surviving transaction, in seqno order from 1. */
  readonly entries: readonly LedgerEntry[];
  /** What was cut from the file, or `null` when nothing was. */
  readonly recovery: LedgerRecovery | null;
}

const encoder = new TextEncoder();
const PROGRESS_BYTES = 16 * 2 ** 20;
const NO_CLAIMS = new Uint8Array(0);

/** A transaction's Merkle leaf from its components (CCF's `entry_leaf`). */
const leafHash = (
  writeSetDigest: Uint8Array,
  commitEvidence: string,
  claimsDigest?: Uint8Array,
): Uint8Array => {
  const ce = sha256(encoder.encode(commitEvidence));
  const claims = claimsDigest ?? NO_CLAIMS;
  const input = new Uint8Array(2 * HASH_SIZE + claims.length);
  input.set(writeSetDigest, 0);
  input.set(ce, HASH_SIZE);
  input.set(claims, 2 * HASH_SIZE);
  return sha256(input);
};

const errorText = (e: unknown): string => e instanceof Error ? e.message : String(e);

/** See the module documentation. */
export class Ledger {
  readonly #tree = new MerkleTree();
  readonly #digests = new HashList();
  /** Runs of equal views: `view` holds from seqno `from` until the next run. */
  readonly #views: { from: number; view: number }[] = [];
  readonly #claims = new Map<number, Uint8Array>();
  readonly #signatures = new Map<number, SignatureRecord>();
  readonly #signatureSeqnos: number[] = [];
  readonly #secret: LedgerSecret;
  readonly #signer: NodeSigner;
  #view: number;
  #committed = 0;
  /** Set by {@link holdCommits}: a signature commits only once {@link acknowledge}d. */
  #holding = false;
  #writer: LedgerWriter | null = null;
  /** Byte ranges of the file's lines, two numbers per transaction (file-backed ledgers). */
  readonly #lines: number[] = [];
  /** The write sets themselves, for ledgers without a file. */
  readonly #memory: (readonly KvWrite[])[] | null;
  #mark: SignedMarkWriter | null = null;
  #closed = false;

  private constructor(signer: NodeSigner, secret: LedgerSecret, view: number, inMemory: boolean) {
    this.#memory = inMemory ? [] : null;
    this.#signer = signer;
    this.#secret = secret;
    this.#view = view;
  }

  /** A ledger that keeps nothing on disk (tests, benchmarks). */
  static inMemory(options: MemoryLedgerOptions): Ledger {
    const secret = ledgerSecret(options.secret ?? newLedgerSecret());
    return new Ledger(options.signer, secret, options.view ?? DEFAULT_VIEW, true);
  }

  /**
   * Opens (or creates) the ledger in `dir`, replays and verifies its file, cuts off the tail that
   * was never committed, and returns the surviving transactions. Throws a
   * {@link LedgerIntegrityError} when the signed part fails a check (see the module
   * documentation), and an `Error` when the file is not a ledger file or its secret is missing or
   * readable by others; either way no file was changed.
   */
  static open(dir: string, options: FileLedgerOptions): OpenedLedger {
    Deno.mkdirSync(dir, { recursive: true });
    const path = join(dir, LEDGER_FILE);
    const secretPath = join(dir, SECRET_FILE);
    const markPath = join(dir, SIGNED_FILE);
    const hasLedger = exists(path);
    const signed = readSignedMark(markPath);
    if (!hasLedger && signed > 0) {
      throw new LedgerIntegrityError(
        1,
        `The ledger ${path} is missing, but ${markPath} says a signature at seqno ${signed} was ` +
          `written: restore the ledger, or remove ${dir} to start a new service`,
      );
    }
    if (hasLedger && !exists(secretPath)) {
      throw new Error(`The ledger ${path} cannot be opened without its secret ${secretPath}`);
    }
    const secret = exists(secretPath) ? readSecretFile(secretPath) : createSecretFile(secretPath);
    const ledger = new Ledger(options.signer, ledgerSecret(secret), DEFAULT_VIEW, false);
    const bytes = hasLedger ? Deno.readFileSync(path) : new Uint8Array(0);
    const replayed = ledger.#replay(bytes, path, options);
    const recovery = ledger.#recovery(bytes, replayed, path, signed, options);
    ledger.#truncate(replayed.kept);
    const entries = replayed.entries.slice(0, replayed.kept);
    if (replayed.keep < bytes.length || bytes.length === 0) {
      if (recovery?.savedTo) {
        Deno.writeFileSync(recovery.savedTo, bytes.subarray(replayed.keep));
      }
      if (replayed.keep === 0) {
        Deno.writeTextFileSync(path, HEADER_LINE);
      } else {
        Deno.truncateSync(path, replayed.keep);
      }
    }
    ledger.#writer = LedgerWriter.open(path);
    ledger.#writer.sync();
    ledger.#mark = SignedMarkWriter.open(markPath, ledger.lastSignatureSeqno);
    syncDirectory(dir);
    return { ledger, entries, recovery };
  }

  /**
   * Begins a new view after the last transaction: the view after it, or `atLeast` if later. The
   * node does so on every start as the service's writer on an existing ledger, as CCF does on
   * recovery, so that no transaction id of a lost tail is ever issued again.
   */
  beginView(atLeast = 0): void {
    this.#view = Math.max(atLeast, this.#lastView() + 1);
  }

  /** Number of transactions recorded (the last seqno). */
  get size(): number {
    return this.#tree.size;
  }

  /** View of the last transaction, which the next signature record carries. */
  get view(): number {
    return this.#view;
  }

  /** Seqno of the last signature transaction on disk: everything up to it is committed. */
  get lastSignedSeqno(): number {
    return this.#committed;
  }

  /** Transactions recorded since the last signature transaction. */
  get pendingSinceSignature(): number {
    return this.size - this.lastSignatureSeqno;
  }

  /** Seqno of the last signature transaction recorded, committed or not (0: none). */
  get lastSignatureSeqno(): number {
    return this.#signatureSeqnos[this.#signatureSeqnos.length - 1] ?? 0;
  }

  /**
   * For a node of a network of several: from now on a signature transaction commits what it
   * covers only once a majority of nodes holds it, which the network tells with
   * {@link acknowledge}. The commit goes back to the last signature at or before `committed`
   * (what the network knows to be committed), so that a node never reports `Committed` for a
   * transaction the network could still lose.
   */
  holdCommits(committed: number): void {
    this.#holding = true;
    this.#committed = this.#signatureAtOrBefore(committed);
  }

  /** The network holds every transaction up to `seqno`: commit up to the last signature in it. */
  acknowledge(seqno: number): void {
    if (!this.#holding) return;
    this.#committed = Math.max(this.#committed, this.#signatureAtOrBefore(seqno));
  }

  /** The view `seqno` was recorded in, or `null` beyond the last transaction. */
  viewOf(seqno: number): number | null {
    return Number.isInteger(seqno) && seqno >= 1 && seqno <= this.size ? this.#viewOf(seqno) : null;
  }

  /**
   * Records a committed transaction. `commit.seqno` must follow the last one. A commit that
   * writes {@link SIGNATURES_MAP} is a signature transaction: it must write only that record,
   * whose root must be the root of every transaction before it; it is fsynced before this
   * returns. If this throws after the store committed, store and ledger disagree: stop the node
   * (reopening replays what is on disk).
   */
  append(commit: KvCommit, claimsDigest?: Uint8Array): void {
    if (this.#closed) throw new Error("The ledger is closed");
    const seqno = this.size + 1;
    if (commit.seqno !== seqno) {
      throw new Error(`The ledger expects seqno ${seqno} next, not ${commit.seqno}`);
    }
    if (commit.view < this.#lastView()) {
      throw new Error(`View ${commit.view} of seqno ${seqno} is older than the last one`);
    }
    if (claimsDigest !== undefined && claimsDigest.length !== HASH_SIZE) {
      throw new RangeError(`A claims digest is ${HASH_SIZE} bytes, not ${claimsDigest.length}`);
    }
    const signature = this.#signatureIn(commit.writes, seqno, commit.view);
    if (signature && claimsDigest) {
      throw new Error("A signature transaction has no claims digest");
    }
    const entry: StoredEntry = {
      seqno,
      view: commit.view,
      writes: commit.writes,
      ...(claimsDigest ? { claimsDigest: claimsDigest.slice() } : {}),
      ...(signature ? { signature } : {}),
    };
    const digest = writeSetDigest(entry.writes);
    const [start, end] = this.#writer?.append(encodeEntryLine(entry, this.#secret)) ?? [0, 0];
    if (signature) {
      this.#writer?.sync();
      this.#mark?.write(seqno);
    }
    this.#record(entry, digest, start, end);
  }

  /**
   * The record of a signature transaction at the next seqno: the node key's signature over the
   * root of every transaction recorded so far. Checked against the node certificate before it is
   * returned, so that a misconfigured signer fails here and not in every later receipt.
   */
  signatureRecord(): SignatureRecord {
    if (this.size === 0) throw new Error("Nothing to sign: the ledger is empty");
    const root = this.#tree.root(this.size);
    const signature = this.#signer.sign(root);
    if (!verifyRootSignature(this.#signer.certPem, root, signature)) {
      throw new Error("The node signer's signature does not verify with its certificate");
    }
    return {
      seqno: this.size + 1,
      view: this.#view,
      root: bytesToHex(root),
      signature: base64.encode(signature),
      cert: this.#signer.certPem,
      node_id: this.#signer.nodeId,
    };
  }

  /**
   * The receipt of `seqno`, from the first signature transaction after it; `null` while no
   * signature on disk covers it, or when there is no such transaction (as `getStateRange`
   * answers `null` first: the caller retries later).
   */
  receiptFor(seqno: number): LedgerReceipt | null {
    if (!Number.isInteger(seqno) || seqno < 1 || seqno > this.#committed) return null;
    const own = this.#signatures.get(seqno);
    if (own) {
      return {
        signature: own.signature,
        cert: own.cert,
        node_id: own.node_id,
        is_signature_transaction: true,
        root_hex: own.root,
      };
    }
    const signature = this.#signatures.get(this.#signatureAfter(seqno))!;
    const claims = this.#claims.get(seqno);
    return {
      signature: signature.signature,
      cert: signature.cert,
      node_id: signature.node_id,
      is_signature_transaction: false,
      leaf_components: {
        write_set_digest: bytesToHex(this.#digests.at(seqno - 1)),
        commit_evidence: this.#secret.commitEvidence(this.#viewOf(seqno), seqno),
        ...(claims ? { claims_digest: bytesToHex(claims) } : {}),
      },
      proof: this.#tree.proof(seqno - 1, signature.seqno - 1),
    };
  }

  /**
   * CCF's status of `<view>.<seqno>` on this node: `Committed` once a signature on disk covers
   * it, `Pending` before; `Invalid` when it can never commit: another view's transaction holds a
   * committed seqno, or `view` is older than the view of the last commit and the transaction is
   * not here (it was lost in a crash or a view change); `Unknown` otherwise. Without `view`, the
   * view of the transaction at `seqno`.
   */
  txStatus(seqno: number, view?: number): TxStatus {
    if (!Number.isInteger(seqno) || seqno < 1) return "Unknown";
    const local = seqno <= this.size ? this.#viewOf(seqno) : undefined;
    const target = view ?? local;
    if (target === undefined) return "Unknown";
    const committed = seqno <= this.#committed;
    if (target === local) return committed ? "Committed" : "Pending";
    if (committed) return "Invalid";
    const committedView = this.#committed === 0 ? 0 : this.#viewOf(this.#committed);
    return target < committedView ? "Invalid" : "Unknown";
  }

  /**
   * The writes of transaction `seqno`, read back from the file as CCF's historical queries read
   * ledger entries; `null` beyond the last transaction. Throws once the ledger is closed.
   */
  writesOf(seqno: number): readonly KvWrite[] | null {
    if (!Number.isInteger(seqno) || seqno < 1 || seqno > this.size) return null;
    if (this.#memory) return this.#memory[seqno - 1];
    if (!this.#writer) throw new Error("The ledger is closed");
    const [start, end] = this.#lines.slice(2 * (seqno - 1), 2 * seqno);
    return decodeEntryLine(this.#writer.read(start, end - 1), this.#secret).writes;
  }

  /** Root of the tree of the first `treeSize` transactions (default: all). */
  merkleRoot(treeSize: number = this.size): Uint8Array {
    return this.#tree.root(treeSize);
  }

  /** Closes the file; the in-memory state stays readable. */
  close(): void {
    this.#closed = true;
    this.#writer?.close();
    this.#writer = null;
    this.#mark?.close();
    this.#mark = null;
  }

  #record(entry: StoredEntry, digest: Uint8Array, start: number, end: number): void {
    if (this.#memory) this.#memory.push(entry.writes);
    else this.#lines.push(start, end);
    const { seqno, view } = entry;
    const evidence = this.#secret.commitEvidence(view, seqno);
    this.#tree.append(leafHash(digest, evidence, entry.claimsDigest));
    this.#digests.push(digest);
    if (view !== this.#views[this.#views.length - 1]?.view) this.#views.push({ from: seqno, view });
    this.#view = view;
    if (entry.claimsDigest) this.#claims.set(seqno, entry.claimsDigest);
    if (entry.signature) {
      this.#signatures.set(seqno, entry.signature);
      this.#signatureSeqnos.push(seqno);
      if (!this.#holding) this.#committed = seqno;
    }
  }

  /** The signature record a write set carries, checked against the tree; throws if malformed. */
  #signatureIn(
    writes: readonly KvWrite[],
    seqno: number,
    view: number,
  ): SignatureRecord | undefined {
    if (!writes.some((w) => w.map === SIGNATURES_MAP)) return undefined;
    const [write] = writes;
    if (writes.length !== 1 || write.key.length !== 8 || write.key.some((b) => b !== 0)) {
      throw new Error(`A signature transaction writes only its record (seqno ${seqno})`);
    }
    if (write.value === null) throw new Error(`Signature transaction ${seqno} deletes its record`);
    const record = decodeSignatureRecord(write.value);
    if (record.seqno !== seqno || record.view !== view) {
      throw new Error(
        `The signature record names ${record.view}.${record.seqno}, not ${view}.${seqno}`,
      );
    }
    if (seqno === 1 || record.root !== bytesToHex(this.#tree.root(seqno - 1))) {
      throw new Error(
        `The signature record at ${seqno} does not sign the Merkle root of the transactions before it`,
      );
    }
    return record;
  }

  /**
   * Replays the file's bytes into this (empty) ledger up to the first line that fails; returns
   * the byte offset and the number of entries up to the last good signature, and the failure.
   */
  #replay(bytes: Uint8Array, path: string, options: FileLedgerOptions): Replayed {
    const lines = linesOf(bytes);
    const header = lines.next();
    if (header.done || !header.value.terminated) {
      // Empty, or a crash while the header was written: nothing was ever recorded.
      return { keep: 0, kept: 0, entries: [] };
    }
    const headerText = new TextDecoder().decode(bytes.subarray(0, header.value.end));
    if (headerText === VERSION_1_HEADER_LINE) {
      throw new Error(
        `${path} was written by an older sandbox that did not record its node, so its ` +
          `signatures cannot be checked: move its workspace aside and start a new one`,
      );
    }
    if (headerText !== HEADER_LINE) {
      throw new Error(`${path} is not a ccf-sandbox ledger file of a version this node reads`);
    }
    const entries: LedgerEntry[] = [];
    const nodes = new Map<string, string>();
    let keep = header.value.end;
    let kept = 0;
    let lineNo = 1;
    let reported = 0;
    for (const line of lines) {
      lineNo++;
      if (line.start - reported >= PROGRESS_BYTES) {
        reported = line.start;
        options.progress?.(reported, bytes.length);
      }
      const at = `seqno ${this.size + 1} (line ${lineNo})`;
      if (!line.terminated) {
        return { keep, kept, entries, failure: { torn: true, reason: `${at} is incomplete` } };
      }
      try {
        const entry = decodeEntryLine(bytes.subarray(line.start, line.end - 1), this.#secret);
        this.#replayEntry(entry, nodes, options.serviceCertPem, line.start, line.end);
        entries.push({
          seqno: entry.seqno,
          view: entry.view,
          writes: entry.writes,
          ...(entry.claimsDigest ? { claimsDigest: entry.claimsDigest } : {}),
        });
        if (entry.signature) {
          keep = line.end;
          kept = entries.length;
        }
      } catch (e) {
        return { keep, kept, entries, failure: { torn: false, reason: `${at}: ${errorText(e)}` } };
      }
    }
    return { keep, kept, entries };
  }

  #replayEntry(
    entry: StoredEntry,
    nodes: Map<string, string>,
    serviceCertPem: string,
    start: number,
    end: number,
  ): void {
    const { seqno, view } = entry;
    if (seqno !== this.size + 1) {
      throw new Error(`seqno ${seqno} does not follow ${this.size}`);
    }
    if (view < this.#lastView()) throw new Error(`view ${view} goes backwards`);
    const record = this.#signatureIn(entry.writes, seqno, view);
    if ((record === undefined) !== (entry.signature === undefined)) {
      throw new Error("the signature record and the signature write disagree");
    }
    if (record && entry.signature) {
      const stored = encodeSignatureRecord(record);
      const repeated = encodeSignatureRecord(entry.signature);
      const same = stored.length === repeated.length && stored.every((b, i) => b === repeated[i]);
      if (!same) throw new Error("the signature record and the signature write disagree");
      if (entry.claimsDigest) throw new Error("a signature transaction has a claims digest");
      checkSigner(record, nodes, serviceCertPem);
      let valid: boolean;
      try {
        valid = verifyRootSignature(
          record.cert,
          this.#tree.root(seqno - 1),
          base64.decode(record.signature),
        );
      } catch (e) {
        throw new Error(`the signature's certificate is unusable: ${errorText(e)}`);
      }
      if (!valid) {
        throw new Error(`the signature does not verify over the root of seqnos 1..${seqno - 1}`);
      }
    }
    this.#record(entry, writeSetDigest(entry.writes), start, end);
    for (const w of entry.writes) {
      if (w.map !== nodesEndorsedCertificates) continue;
      const id = new TextDecoder().decode(w.key);
      if (w.value === null) nodes.delete(id);
      else nodes.set(id, new TextDecoder().decode(w.value));
    }
  }

  /**
   * What to do about what replay could not keep: nothing, a tail to cut, or (throws) damage of
   * the signed part unless the operator asked to recover from it.
   */
  #recovery(
    bytes: Uint8Array,
    replayed: Replayed,
    path: string,
    signedMark: number,
    options: FileLedgerOptions,
  ): LedgerRecovery | null {
    const dropped = bytes.subarray(replayed.keep);
    const lastGood = this.#signatureAtOrBefore(this.size);
    // A signature the mark records, or a complete one past the failure, was fsynced: committed.
    const signed = Math.max(signedMark, lastSignatureIn(dropped));
    const failure = replayed.failure;
    const damaged = signed > lastGood;
    if (!damaged && dropped.length === 0) return null;
    const reason = failure?.reason ??
      (damaged
        ? `the file ends at seqno ${this.size}`
        : "unsigned transactions after the last signature");
    if (damaged && !options.recoverToLastGoodSignature) {
      throw new LedgerIntegrityError(
        this.size + 1,
        `Ledger ${path}: ${reason}, but its signatures reach seqno ${signed}. It was altered or ` +
          `damaged after it was written (the last good signature is at seqno ${lastGood}). The ` +
          `node does not start and changed no file. To start anyway, losing the committed ` +
          `transactions after seqno ${lastGood}, restart with --recover-to-last-good-signature ` +
          `(the removed bytes are saved beside the ledger).`,
      );
    }
    const kind = damaged
      ? "recovered"
      : failure === undefined
      ? "unsigned-tail"
      : failure.torn
      ? "torn-tail"
      : "corrupt-tail";
    const savedTo = kind === "recovered" || kind === "corrupt-tail"
      ? freeName(`${path.replace(/\.jsonl$/, "")}.discarded`)
      : undefined;
    const lostCommitted = damaged ? signed - lastGood : 0;
    const droppedLines = [...linesOf(dropped)].length;
    const at = lastGood === 0
      ? "to an empty ledger (no signature survived)"
      : `to the last good signature at seqno ${lastGood}`;
    const lost = damaged
      ? ` ${lostCommitted} committed transaction(s) were lost (seqnos ${lastGood + 1}..${signed}).`
      : " None of it had been committed.";
    return {
      kind,
      message: `Ledger ${path}: ${reason}; cut back ${at}` +
        (damaged ? " as the operator asked" : "") +
        `, removing ${droppedLines} line(s) (${dropped.length} bytes)` +
        `${savedTo ? `, saved to ${savedTo}` : ""}.${lost}`,
      ...(failure ? { reason: failure.reason } : {}),
      lastSignedSeqno: lastGood,
      droppedLines,
      droppedBytes: dropped.length,
      lostCommitted,
      ...(savedTo ? { savedTo } : {}),
    };
  }

  #truncate(size: number): void {
    this.#lines.length = 2 * size;
    if (this.#memory) this.#memory.length = size;
    this.#tree.truncate(size);
    this.#digests.truncate(size);
    while ((this.#views[this.#views.length - 1]?.from ?? 0) > size) this.#views.pop();
    this.#view = this.#views[this.#views.length - 1]?.view ?? this.#view;
    for (const seqno of [...this.#claims.keys()]) if (seqno > size) this.#claims.delete(seqno);
    while ((this.#signatureSeqnos[this.#signatureSeqnos.length - 1] ?? 0) > size) {
      this.#signatures.delete(this.#signatureSeqnos.pop()!);
    }
    this.#committed = this.#signatureSeqnos[this.#signatureSeqnos.length - 1] ?? 0;
  }

  #lastView(): number {
    return this.#views[this.#views.length - 1]?.view ?? 0;
  }

  /** Seqno of the last signature at or before `seqno` (0: none). */
  #signatureAtOrBefore(seqno: number): number {
    const s = this.#signatureSeqnos;
    let lo = 0;
    let hi = s.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid] <= seqno) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 ? 0 : s[lo - 1];
  }

  /** Seqno of the first signature after `seqno` (one exists: `seqno` is committed). */
  #signatureAfter(seqno: number): number {
    const s = this.#signatureSeqnos;
    let lo = 0;
    let hi = s.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid] > seqno) hi = mid;
      else lo = mid + 1;
    }
    return s[lo];
  }

  #viewOf(seqno: number): number {
    const runs = this.#views;
    let lo = 0;
    let hi = runs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (runs[mid].from <= seqno) lo = mid;
      else hi = mid - 1;
    }
    return runs[lo].view;
  }
}

/** What {@link Ledger.open}'s replay kept, and the first line it could not. */
interface Replayed {
  /** Byte offset just past the last good signature's line (0: not even the header). */
  readonly keep: number;
  /** Entries up to the last good signature. */
  readonly kept: number;
  /** Every entry replayed, including unsigned ones after the last good signature. */
  readonly entries: LedgerEntry[];
  /** The first line that failed, if any: torn (no newline) or failing a check. */
  readonly failure?: { readonly torn: boolean; readonly reason: string };
}

/**
 * Checks that the node that made a signature is one the ledger recorded, with the certificate the
 * signature names, and that the service certificate endorses it: a signature by any other key is
 * a forgery, however well it verifies.
 */
const checkSigner = (
  record: SignatureRecord,
  nodes: ReadonlyMap<string, string>,
  serviceCertPem: string,
): void => {
  const recorded = nodes.get(record.node_id);
  if (recorded === undefined) {
    throw new Error(
      `node ${record.node_id} signed, but the ledger never recorded it in ${nodesEndorsedCertificates}`,
    );
  }
  if (recorded !== record.cert) {
    throw new Error(
      `the signature's certificate is not the one recorded for node ${record.node_id}`,
    );
  }
  if (!isEndorsedBy(record.cert, serviceCertPem)) {
    throw new Error(
      `node ${record.node_id}'s certificate is not endorsed by the service certificate`,
    );
  }
};

/** Seqno of the last complete signature line in `bytes` that parses (0: none). */
const lastSignatureIn = (bytes: Uint8Array): number => {
  let last = 0;
  const decoder = new TextDecoder();
  for (const line of linesOf(bytes)) {
    if (!line.terminated) continue;
    try {
      const seqno = JSON.parse(decoder.decode(bytes.subarray(line.start, line.end))).signature
        ?.seqno;
      if (Number.isSafeInteger(seqno)) last = Math.max(last, seqno);
    } catch {
      // Not JSON: no signature that could have been fsynced whole.
    }
  }
  return last;
};

const exists = (path: string): boolean => {
  try {
    Deno.statSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
};

/** `base.1`, `base.2`, …: the first that does not exist yet. */
const freeName = (base: string): string => {
  for (let n = 1;; n++) {
    if (!exists(`${base}.${n}`)) return `${base}.${n}`;
  }
};
