// @ts-check
/** The default constitution's `resolve`: CCF's majority rule. */
import { activeMemberIds } from "./helpers.js";

/**
 * Accepted once more than half as many members as are Active voted for it, Open otherwise. Votes
 * against never close a proposal; it stays Open until enough members vote for it, its proposer
 * withdraws it or a change drops it.
 * @param {string} _proposal
 * @param {string} _proposerId
 * @param {Array<{ member_id: string, vote: boolean }>} votes
 * @param {string} _proposalId
 * @returns {"Accepted" | "Open"}
 */
export function resolve(_proposal, _proposerId, votes, _proposalId) {
  const yes = votes.filter(function (v) {
    return v.vote === true;
  }).length;
  return yes > Math.floor(activeMemberIds().size / 2) ? "Accepted" : "Open";
}
