/**
 * The sandbox's default constitution: our implementation of CCF's default one, as the JavaScript
 * module stored in `public:ccf.gov.constitution`. Like CCF's, it is the concatenation of the
 * actions (`Action`, the `check*` helpers, the `actions` map), `validate`, `resolve` and `apply`,
 * so that custom actions appended at its end (`actions.set(name, new Action(validate, apply))`)
 * extend it.
 *
 * `resolve` is CCF's majority rule: a proposal is Accepted once more members voted for it than
 * half the Active members, and stays Open otherwise; votes against never reject it. As in CCF,
 * every yes vote on record counts, also that of a member removed since. (CCF's `sandbox.sh`
 * installs an accept-everything `resolve`; the sandbox keeps the default one, so that what passes
 * here needs the same ballots on a real service.)
 *
 * The parts are JavaScript files of their own, so that `deno lint` and `deno check` see them
 * (`// @ts-check`, types in JSDoc). Each is an ES module that imports what it uses from the parts
 * before it (and `ccf` from `ccf.d.ts`), so that they type-check apart. Inside QuickJS they are one
 * module, as on CCF: {@link joinParts} reads them as text, drops those imports and the `export`
 * of everything but `validate`, `resolve` and `apply`, and joins them in order.
 */
import helpers from "./helpers.js" with { type: "text" };
import appActions from "./appActions.js" with { type: "text" };
import identityActions from "./identityActions.js" with { type: "text" };
import jwtActions from "./jwtActions.js" with { type: "text" };
import constitution from "./constitution.js" with { type: "text" };

/** An import of a sibling part (`deno fmt` may spread its names over several lines). */
const PART_IMPORT = /^import [^;]+ from "\.\/[\w.]+";\n/gm;
/** The `export` of a declaration a later part imports. */
const PART_EXPORT = /^export (?=(?:class|const|function) )/gm;

/** One module from the parts in order: only the last one's exports remain. */
function joinParts(parts: readonly string[]): string {
  return parts.map((part, i) => {
    const local = part.replace(PART_IMPORT, "");
    return i === parts.length - 1 ? local : local.replace(PART_EXPORT, "");
  }).join("\n");
}

/** The default constitution, as stored in `public:ccf.gov.constitution`. */
export const DEFAULT_CONSTITUTION: string = joinParts([
  helpers,
  appActions,
  identityActions,
  jwtActions,
  constitution,
]);
