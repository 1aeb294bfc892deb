/**
 * `deno task kms audit`: what the KMS did, checked from the service alone (its endpoints and
 * receipts, no ledger files, so it works against a real CCF network): every version of the key
 * release, settings and rotation policies and every change of a JWT validation policy, with the
 * proposal that set it, every key ever created and every key release, each with its receipt
 * verified against the service certificate. Fails closed: a receipt that does not verify, one
 * still unsigned, or a gap in a numbering is a failure reported by name, never skipped.
 *
 * Policy changes are governance transactions, which carry no claims digest, so no receipt can bind
 * a policy's content; they are listed with their proposals, which CCF's governance API keeps, and
 * the transactions that applied them.
 */
import * as E from "fp-ts/lib/Either.js";
import type { ReceiptVerifier } from "../../client/kms/receiptVerifier.ts";
import type { ReleaseRecord } from "../../core/api/releaseRecord.ts";
import type { PublishedKey } from "../../core/keys/record.ts";

/** Reads one JSON answer of the service (a 200), by path. */
export type Get = (path: string) => Promise<unknown>;

/** One event of the timeline. */
export interface AuditEntry {
  /** Seconds since the epoch, by the host's clock; undefined for governance (no time is served). */
  readonly time?: number;
  readonly what: string;
  /** The receipt's transaction id, when a verified receipt proves the entry. */
  readonly txid?: string;
}

/** What an audit found. */
export interface AuditReport {
  readonly entries: readonly AuditEntry[];
  /** Everything that did not check out; empty when the audit passed. */
  readonly failures: readonly string[];
}

const policies = [
  ["key release policy", "/app/keyReleasePolicy"],
  ["settings policy", "/app/settingsPolicy"],
  ["rotation policy", "/app/keyRotationPolicy"],
] as const;

const pageSize = 100;

type Page<K extends string, A> = { total: number } & { [key in K]: A[] };

/** Every entry of a paged history endpoint, page by page. */
const allPages = async <K extends string, A>(get: Get, path: string, key: K): Promise<A[]> => {
  const all: A[] = [];
  for (let total = 1; all.length < total;) {
    const page = await get(`${path}?from=${all.length}&limit=${pageSize}`) as Page<K, A>;
    total = page.total;
    if (page[key].length === 0) break;
    all.push(...page[key]);
  }
  return all;
};

/** The transaction id a receipt's commit evidence names (`ce:<view>.<seqno>:...`). */
const txidOf = (receipt: string): string | undefined =>
  /"commit_evidence"\s*:\s*"ce:(\d+\.\d+):/.exec(receipt)?.[1];

/** Audits the service behind `get`; `since` (seconds) limits keys and releases to later ones. */
export const audit = async (
  get: Get,
  verifier: ReceiptVerifier,
  since = 0,
): Promise<AuditReport> => {
  const entries: AuditEntry[] = [];
  const failures: string[] = [];
  const proven = async (what: string, receipt: string | null, claim: string) => {
    if (receipt === null) {
      failures.push(`${what}: no receipt yet (not covered by a signature); audit again shortly`);
      return undefined;
    }
    const verified = await verifier.verify(receipt, claim);
    if (E.isLeft(verified)) {
      failures.push(`${what}: the receipt does not verify: ${verified.left.message}`);
      return undefined;
    }
    return txidOf(receipt) ?? "?";
  };

  for (const [name, path] of policies) {
    const current = await get(path) as { version: number };
    for (let version = 1; version <= current.version; version++) {
      try {
        const set = await get(`${path}?version=${version}`) as {
          proposalId: string;
          transactionId?: string;
        };
        entries.push({
          what: `${name} version ${version} set by proposal ${set.proposalId}` +
            ` in transaction ${set.transactionId ?? "?"}`,
        });
      } catch (e) {
        failures.push(`${name} version ${version}: ${(e as Error).message}`);
      }
    }
  }

  const jwt = await get("/app/jwtValidationHistory") as {
    changes: { proposalId: string; issuer: string }[];
  };
  for (const change of jwt.changes) {
    entries.push({
      what: `JWT validation policy of ${change.issuer} set by proposal ${change.proposalId}`,
    });
  }

  const keys = await allPages<"keys", { key: PublishedKey; receipt: string | null }>(
    get,
    "/app/keys",
    "keys",
  );
  for (const [i, { key, receipt }] of keys.entries()) {
    if (key.index !== i) failures.push(`key ${i} is missing: the history lists key ${key.index}`);
    if (key.createdAt < since) continue;
    const what = `key ${key.index} (OHTTP id ${key.keyId}) created, ${key.publicKey.slice(0, 16)}…`;
    const txid = await proven(`key ${key.index}`, receipt, key.publicKey);
    entries.push({ time: key.createdAt, what, txid });
  }

  const releases = await allPages<"releases", { record: string; receipt: string | null }>(
    get,
    "/app/releases",
    "releases",
  );
  for (const [i, { record, receipt }] of releases.entries()) {
    const r = JSON.parse(record) as ReleaseRecord;
    if (r.release !== i) failures.push(`release ${i} is missing: the history lists ${r.release}`);
    if (!keys.some((k) => k.key.index === r.keyIndex && k.key.keyId === r.kid)) {
      failures.push(`release ${r.release} names key ${r.keyIndex}, which the history lacks`);
    }
    if (r.time < since) continue;
    const txid = await proven(`release ${r.release}`, receipt, record);
    entries.push({
      time: r.time,
      what: `release ${r.release}: key ${r.keyIndex} (OHTTP id ${r.kid}) to TPM key ` +
        `${r.wrappingKeyThumbprint} under key release policy version ${r.policyVersion} ` +
        `(token of ${r.issuer})`,
      txid,
    });
  }
  // Governance first (it has no time), then keys and releases as they happened.
  entries.sort((a, b) => (a.time ?? -Infinity) - (b.time ?? -Infinity));
  return { entries, failures };
};

/** The report as lines an operator reads: the timeline, then the verdict. */
export const reportLines = (report: AuditReport): string[] => [
  ...report.entries.map((e) =>
    `${e.time === undefined ? "governance          " : new Date(e.time * 1000).toISOString()}  ` +
    `${e.what}${e.txid ? `  [receipt ${e.txid} verified]` : ""}`
  ),
  ...report.failures.map((f) => `FAIL  ${f}`),
  report.failures.length === 0
    ? `audit passed: ${report.entries.length} entries, every receipt verified`
    : `audit FAILED: ${report.failures.length} problem(s)`,
];
