/**
 * The governance flow an operator runs: submit a proposal, vote with the members whose keys the
 * operator holds until it is no longer open, and report the id, the final state and, when it did
 * not pass, why, in CCF's terms: with CCF's default constitution votes against never close a
 * proposal, and when `apply` throws the service records nothing, so the proposal stays open.
 */
import { join } from "node:path";
import { certId } from "../../ccf/gov/cose.ts";
import type { MemberFiles } from "./config.ts";
import { exitCodes } from "./errors.ts";
import { ConstitutionFailure } from "../../ccf/gov/errors.ts";
import {
  ballotFor,
  type GovClient,
  type ProposalInfo,
  type ProposalState,
  type Signer,
} from "../../ccf/gov/client.ts";
import type { Output } from "./output.ts";
import { describeProposal, type Proposal } from "./proposals.ts";

/** What the flow needs. */
export interface GovSession {
  readonly gov: GovClient;
  readonly out: Output;
  /** Loads a member's signer (reading and checking its files). */
  readonly signerOf: (files: MemberFiles) => Promise<Signer>;
  /** Names of known members by id, for printing. */
  readonly labels: ReadonlyMap<string, string>;
}

/** How a member id is shown: its workspace name if known, else its start. */
export const memberName = (id: string, labels: ReadonlyMap<string, string>): string =>
  labels.get(id) ?? `${id.slice(0, 12)}…`;

/**
 * Names the members of a sandbox workspace by id (`member0`, ...); a missing or unreadable
 * workspace names nobody, since this only makes output friendlier.
 */
export const workspaceLabels = async (workspace: string): Promise<Map<string, string>> => {
  const labels = new Map<string, string>();
  const dir = join(workspace, "sandbox_common");
  try {
    for await (const entry of Deno.readDir(dir)) {
      const match = entry.name.match(/^(member\d+)_cert\.pem$/);
      if (!match) continue;
      try {
        labels.set(certId(await Deno.readTextFile(join(dir, entry.name))), match[1]);
      } catch { /* not a certificate: leave it unnamed */ }
    }
  } catch { /* no workspace */ }
  return labels;
};

/** The lines that describe a proposal's state, ballots, votes and failures. */
export const describeInfo = (
  info: ProposalInfo,
  labels: ReadonlyMap<string, string>,
): string[] => {
  const lines = [`state: ${info.proposalState}`];
  lines.push(`proposer: ${memberName(info.proposerId, labels)}`);
  const submitters = info.ballotSubmitters ?? [];
  const count = info.ballotCount ?? submitters.length;
  lines.push(
    `ballots: ${count}${
      submitters.length > 0 ? ` (${submitters.map((id) => memberName(id, labels)).join(", ")})` : ""
    }`,
  );
  const votes = Object.entries(info.finalVotes ?? {});
  if (votes.length > 0) {
    lines.push(
      `votes: ${
        votes.map(([id, yes]) => `${memberName(id, labels)} ${yes ? "for" : "against"}`).join(", ")
      }`,
    );
  }
  for (const [id, failure] of Object.entries(info.voteFailures ?? {})) {
    lines.push(`ballot of ${memberName(id, labels)} failed: ${failure.reason}`);
  }
  if (info.failure) lines.push(`reason: ${info.failure.reason}`);
  if (info.proposalState === "Rejected" && votes.length > 0) {
    lines.push("reason: the members' votes rejected it");
  }
  if (info.proposalState === "Dropped") {
    lines.push(
      "reason: dropped by a change that invalidates open proposals (e.g. set_constitution)",
    );
  }
  return lines;
};

/** The exit status for a proposal the operator wanted to pass. */
export const proposedStatus = (state: ProposalState): number =>
  state === "Accepted" || state === "Open" ? exitCodes.ok : exitCodes.failed;

const report = (session: GovSession, info: ProposalInfo, votedAgainst = false): void => {
  for (const line of describeInfo(info, session.labels)) session.out.result(line);
  if (info.proposalState !== "Open") return;
  session.out.result(
    `the proposal stays open until more members vote for it: deno task kms vote ${info.proposalId} ` +
      "--vote-with <members>",
  );
  if (votedAgainst) {
    session.out.result(
      "votes against do not reject a proposal (CCF's default constitution): it stays open until " +
        `a majority votes for it, or its proposer withdraws it: deno task kms withdraw ${info.proposalId}`,
    );
  }
};

/**
 * Votes with `voters` and reports the outcome; `exitStatus` maps the final state to the exit
 * status. A ballot whose `apply` (or `resolve`) threw was not recorded: the proposal is reported
 * as the service still holds it, with the failure, and the status is 1.
 */
const voteAndReport = async (
  session: GovSession,
  initial: ProposalInfo,
  voters: readonly MemberFiles[],
  accept: boolean,
  exitStatus: (state: ProposalState) => number,
): Promise<number> => {
  let final: ProposalInfo;
  try {
    final = await castBallots(session, initial, voters, accept);
  } catch (e) {
    if (!(e instanceof ConstitutionFailure)) throw e;
    const id = initial.proposalId;
    const current = await session.gov.getProposal(id);
    for (const line of describeInfo(current, session.labels)) session.out.result(line);
    session.out.error(e.message);
    session.out.note(
      `once what ${e.stage} needs is in place, vote again (deno task kms vote ${id}), or withdraw ` +
        `it (deno task kms withdraw ${id})`,
    );
    return exitCodes.failed;
  }
  report(session, final, !accept);
  return exitStatus(final.proposalState);
};

/**
 * Votes on proposal `id` with each member of `voters` in turn, while it is open. Returns the last
 * state seen (`initial` when nobody voted).
 */
export const castBallots = async (
  session: GovSession,
  initial: ProposalInfo,
  voters: readonly MemberFiles[],
  accept: boolean,
): Promise<ProposalInfo> => {
  let info = initial;
  for (const voter of voters) {
    if (info.proposalState !== "Open") {
      session.out.progress(`the proposal is ${info.proposalState}: ${voter.label} does not vote`);
      continue;
    }
    const signer = await session.signerOf(voter);
    session.out.progress(`${signer.label} votes ${accept ? "for" : "against"}`);
    info = await session.gov.submitBallot(info.proposalId, ballotFor(accept), signer);
  }
  return info;
};

/**
 * Submits `proposal` as `proposer`, votes for it with `voters` and reports the outcome. Exits 0
 * when it was accepted or stays open for other members' votes.
 */
export const proposeAndVote = async (
  session: GovSession,
  proposal: Proposal,
  proposer: MemberFiles,
  voters: readonly MemberFiles[],
): Promise<number> => {
  const signer = await session.signerOf(proposer);
  session.out.progress(`submitting ${describeProposal(proposal)} as ${signer.label}`);
  const created = await session.gov.createProposal(JSON.stringify(proposal), signer);
  session.out.result(`proposal ${created.proposalId}`);
  return await voteAndReport(session, created, voters, true, proposedStatus);
};

/** Votes on an existing proposal and reports its state. Exits 1 only if applying it failed. */
export const voteOn = async (
  session: GovSession,
  id: string,
  voters: readonly MemberFiles[],
  accept: boolean,
): Promise<number> => {
  const current = await session.gov.getProposal(id);
  session.out.result(`proposal ${current.proposalId}`);
  if (current.proposalState !== "Open") {
    report(session, current);
    session.out.error(`the proposal is ${current.proposalState}: it takes no more ballots`);
    return exitCodes.failed;
  }
  return await voteAndReport(
    session,
    current,
    voters,
    accept,
    (state) => state === "Failed" ? exitCodes.failed : exitCodes.ok,
  );
};

/** Withdraws a proposal and reports its state. */
export const withdrawProposal = async (
  session: GovSession,
  id: string,
  proposer: MemberFiles,
): Promise<number> => {
  const signer = await session.signerOf(proposer);
  session.out.progress(`withdrawing ${id} as ${signer.label}`);
  const info = await session.gov.withdraw(id, signer);
  session.out.result(`proposal ${info.proposalId}`);
  report(session, info);
  return info.proposalState === "Withdrawn" ? exitCodes.ok : exitCodes.failed;
};

/** Prints a proposal. */
export const showProposal = async (
  session: GovSession,
  id: string,
  json: boolean,
): Promise<number> => {
  const info = await session.gov.getProposal(id);
  if (json) {
    session.out.result(JSON.stringify(info, null, 2));
  } else {
    session.out.result(`proposal ${info.proposalId}`);
    report(session, info);
  }
  return exitCodes.ok;
};
