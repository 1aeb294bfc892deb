// @ts-check
/**
 * The end of the default constitution: the map of the actions defined before it (helpers.js and
 * the *Actions.js files come first in the module), `validate` and `apply`; `resolve` is the part
 * after it (resolve.js, or acceptAllResolve.js for a sandbox that accepts every proposal).
 */
/** @import { Args } from "./helpers.js" */
import { appActions } from "./appActions.js";
import { identityActions } from "./identityActions.js";
import { jwtActions } from "./jwtActions.js";
import { nodeActions } from "./nodeActions.js";
import { serviceActions } from "./serviceActions.js";

const actions = new Map([
  ...appActions,
  ...identityActions,
  ...jwtActions,
  ...serviceActions,
  ...nodeActions,
]);

// ---- validate ----
/**
 * @param {string} input the proposal, as JSON
 * @returns {{ valid: boolean, description: string }}
 */
export function validate(input) {
  let proposal;
  try {
    proposal = JSON.parse(input);
  } catch (e) {
    return {
      valid: false,
      description: "the proposal is not JSON: " + /** @type {Error} */ (e).message,
    };
  }
  if (typeof proposal !== "object" || proposal === null || !Array.isArray(proposal.actions)) {
    return { valid: false, description: "a proposal must be an object with an array of actions" };
  }
  /** @type {string[]} */
  const errors = [];
  /** @type {Args[]} */ (proposal.actions).forEach(function (action, position) {
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

// ---- apply ----
/**
 * @param {string} proposal the proposal, as JSON
 * @param {string} proposalId
 */
export function apply(proposal, proposalId) {
  const parsed = JSON.parse(proposal);
  for (const action of parsed.actions) {
    const definition = actions.get(action.name);
    if (definition === undefined) throw new Error(action.name + ": no such action");
    definition.apply(action.args, proposalId);
  }
}
