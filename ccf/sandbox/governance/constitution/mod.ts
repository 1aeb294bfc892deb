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
 *
 * The parts are JavaScript files of their own, so that `deno lint` and `deno check` see them; they
 * are fragments of one module (each uses what the ones before it define), read here as text and
 * joined in order.
 */
import helpers from "./helpers.js" with { type: "text" };
import appActions from "./appActions.js" with { type: "text" };
import identityActions from "./identityActions.js" with { type: "text" };
import jwtActions from "./jwtActions.js" with { type: "text" };
import constitution from "./constitution.js" with { type: "text" };

/** The default constitution, as stored in `public:ccf.gov.constitution`. */
export const DEFAULT_CONSTITUTION: string = [
  helpers,
  appActions,
  identityActions,
  jwtActions,
  constitution,
].join("\n");
