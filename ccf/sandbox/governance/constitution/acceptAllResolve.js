// @ts-check
/**
 * The `resolve` of CCF's own local sandbox (`sandbox.sh`): every proposal is Accepted as soon as
 * it is proposed, without a ballot.
 * @param {string} _proposal
 * @param {string} _proposerId
 * @param {Array<{ member_id: string, vote: boolean }>} _votes
 * @param {string} _proposalId
 * @returns {"Accepted"}
 */
export function resolve(_proposal, _proposerId, _votes, _proposalId) {
  return "Accepted";
}
