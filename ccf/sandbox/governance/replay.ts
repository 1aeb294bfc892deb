/**
 * When a governance message may have been created.
 *
 * CCF's replay protection of proposals (CCF's documentation, Governance: Proposals): the pair
 * (created_at, SHA-256 of the COSE signature) must not be among the recent proposals, and
 * created_at must not be older than the median of that window, so a captured proposal cannot be
 * submitted again.
 *
 * The sandbox also bounds created_at of proposals, ballots and withdrawals by its own clock
 * ({@link CREATED_AT_WINDOW}), which CCF does not: there, one proposal dated far in the future
 * lifts the median above every honestly dated proposal that follows, and governance is stuck
 * until the window has filled with proposals dated past it.
 */
import { Buffer } from "node:buffer";
import type { KvTransaction } from "../kv.ts";
import { type GovError, govError } from "./errors.ts";
import { coseRecentProposals, entries, fromUtf8, readServiceConfig, utf8 } from "./tables.ts";

/** CCF keeps created_at as 10 decimal digits: enough until the year 2286. */
const MAX_CREATED_AT = 9_999_999_999;

/**
 * How far, in seconds, created_at may lie behind or ahead of the node's clock. Ahead covers the
 * clock skew between an operator's machine and the node, and is also the longest a proposal dated
 * at its edge can hold honestly dated ones back; behind leaves time to sign a message and submit
 * it by hand.
 */
export const CREATED_AT_WINDOW = { behindSeconds: 60 * 60, aheadSeconds: 60 } as const;

const isoOf = (seconds: number): string => {
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? `${seconds} s` : date.toISOString();
};

/** Refuses a created_at (seconds) outside {@link CREATED_AT_WINDOW} around `nowMs`. */
export function checkCreatedAtWindow(createdAt: number, nowMs: number): GovError | undefined {
  const now = Math.floor(nowMs / 1000);
  const { behindSeconds, aheadSeconds } = CREATED_AT_WINDOW;
  let off: string | undefined;
  if (createdAt > now + aheadSeconds) off = `${createdAt - now} s ahead of`;
  else if (createdAt < now - behindSeconds) off = `${now - createdAt} s behind`;
  if (off === undefined) return undefined;
  return govError(
    400,
    "InvalidCreatedAt",
    `Header parameter created_at (${createdAt}, ${isoOf(createdAt)}) is ${off} the node's ` +
      `clock (${isoOf(now)}); the sandbox accepts governance messages created from ` +
      `${behindSeconds} s before to ${aheadSeconds} s after its clock: sign with the current time`,
  );
}

/**
 * Checks a new proposal's submission and records it in the window (in `tx`); returns the refusal
 * instead when it is a replay, too old, or its created_at is out of range.
 */
export function checkSubmissionTime(
  tx: KvTransaction,
  createdAt: number,
  requestDigest: Uint8Array,
  proposalId: string,
): GovError | undefined {
  if (createdAt > MAX_CREATED_AT) {
    return govError(400, "InvalidCreatedAt", "Header parameter created_at value is too large");
  }
  // Zero-padded so that string order is numeric order, as CCF keys them.
  const createdAtText = String(createdAt).padStart(10, "0");
  const key = `${createdAtText}:${Buffer.from(requestDigest).toString("hex")}`;
  const colliding = tx.get(coseRecentProposals, utf8(key));
  if (colliding !== undefined) {
    return govError(
      400,
      "ProposalReplay",
      `Proposal submission replay, already exists as proposal ${fromUtf8(colliding)}`,
    );
  }
  const keys = entries(tx, coseRecentProposals).map(([k]) => k);
  if (keys.length > 0) {
    const median = keys[Math.floor(keys.length / 2)].split(":")[0];
    if (createdAtText < median) {
      return govError(
        400,
        "ProposalCreatedTooLongAgo",
        `Proposal created too long ago, created_at must be greater than ${median}`,
      );
    }
  }
  tx.set(coseRecentProposals, utf8(key), utf8(proposalId));
  const excess = keys.length - (readServiceConfig(tx).recent_cose_proposals_window_size - 1);
  for (let i = 0; i < excess; i++) tx.delete(coseRecentProposals, utf8(keys[i]));
  return undefined;
}
