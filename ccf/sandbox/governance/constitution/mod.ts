/**
 * The sandbox's default constitution: our implementation of CCF's default one, as the JavaScript
 * module stored in `public:ccf.gov.constitution`. Like CCF's, it is the concatenation of the
 * actions (`Action`, the `check*` helpers, the `actions` map), `validate`, `resolve` and `apply`,
 * so that custom actions appended at its end (`actions.set(name, new Action(validate, apply))`)
 * extend it.
 *
 * `resolve` is CCF's majority rule: a proposal is Accepted once more than half of the Active
 * members voted for it, Rejected as soon as the votes against leave too few Active members to
 * reach that majority, and Open otherwise. Votes of members that are no longer Active do not
 * count. (CCF's `sandbox.sh` installs an accept-everything `resolve`; the sandbox keeps the
 * default one, so that what passes here needs the same ballots on a real service.)
 */
import { APP_ACTIONS_SOURCE } from "./appActions.ts";
import { HELPERS_SOURCE } from "./helpers.ts";
import { IDENTITY_ACTIONS_SOURCE } from "./identityActions.ts";
import { JWT_ACTIONS_SOURCE } from "./jwtActions.ts";

const ACTIONS_MAP_SOURCE = String.raw`
const actions = new Map([...appActions, ...identityActions, ...jwtActions]);
`;

/** `validate(input)`: every action known and its arguments accepted by its `validate`. */
const VALIDATE_SOURCE = String.raw`
// ---- validate ----
export function validate(input) {
  let proposal;
  try {
    proposal = JSON.parse(input);
  } catch (e) {
    return { valid: false, description: "the proposal is not JSON: " + e.message };
  }
  if (typeof proposal !== "object" || proposal === null || !Array.isArray(proposal.actions)) {
    return { valid: false, description: "a proposal must be an object with an array of actions" };
  }
  const errors = [];
  proposal.actions.forEach(function (action, position) {
    const name = action !== null && typeof action === "object" ? action.name : undefined;
    const definition = typeof name === "string" ? actions.get(name) : undefined;
    if (definition === undefined) {
      errors.push(String(name) + ": no such action");
      return;
    }
    try {
      definition.validate(action.args);
    } catch (e) {
      errors.push(name + " at position " + position + " failed validation: " + String(e));
    }
  });
  return { valid: errors.length === 0, description: errors.join(", ") };
}
`;

/** `resolve(proposal, proposerId, votes, proposalId)`: the majority rule of the module doc. */
const RESOLVE_SOURCE = String.raw`
// ---- resolve ----
export function resolve(proposal, proposerId, votes, proposalId) {
  const active = new Set();
  ccf.kv["public:ccf.gov.members.info"].forEach(function (value, key) {
    if (ccf.bufToJsonCompatible(value).status === "Active") active.add(ccf.bufToStr(key));
  });
  let yes = 0;
  let no = 0;
  for (const v of votes) {
    if (!active.has(v.member_id)) continue;
    if (v.vote === true) yes++;
    else no++;
  }
  const majority = Math.floor(active.size / 2) + 1;
  if (yes >= majority) return "Accepted";
  if (active.size - no < majority) return "Rejected";
  return "Open";
}
`;

/** `apply(proposal, proposalId)`: each action's `apply`, in order. */
const APPLY_SOURCE = String.raw`
// ---- apply ----
export function apply(proposal, proposalId) {
  const parsed = JSON.parse(proposal);
  for (const action of parsed.actions) {
    const definition = actions.get(action.name);
    if (definition === undefined) throw new Error(action.name + ": no such action");
    definition.apply(action.args, proposalId);
  }
}
`;

/** The actions part: helpers, the default actions and the `actions` map. */
const ACTIONS_SOURCE = HELPERS_SOURCE + APP_ACTIONS_SOURCE + IDENTITY_ACTIONS_SOURCE +
  JWT_ACTIONS_SOURCE + ACTIONS_MAP_SOURCE;

/** The default constitution, as stored in `public:ccf.gov.constitution`. */
export const DEFAULT_CONSTITUTION = ACTIONS_SOURCE + VALIDATE_SOURCE + RESOLVE_SOURCE +
  APPLY_SOURCE;
