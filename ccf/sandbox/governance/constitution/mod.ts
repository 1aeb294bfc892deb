/**
 * The sandbox's default constitution: our implementation of CCF's default one, as the JavaScript
 * module stored in `public:ccf.gov.constitution`. Like CCF's, it is the concatenation of the
 * actions (`Action`, the `check*` helpers, the `actions` map), `validate`, `resolve` and `apply`,
 * so that custom actions appended at its end (`actions.set(name, new Action(validate, apply))`)
 * extend it.
 *
 * `resolve` is CCF's majority rule: a proposal is Accepted once more members voted for it than
 * half the Active members, and stays Open otherwise; votes against never reject it. As in CCF,
 * every yes vote on record counts, also that of a member removed since. CCF's `sandbox.sh`
 * installs an accept-everything `resolve` instead: {@link ACCEPT_ALL_CONSTITUTION} is this
 * constitution with that one, for a sandbox started to behave like it.
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
import serviceActions from "./serviceActions.js" with { type: "text" };
import nodeActions from "./nodeActions.js" with { type: "text" };
import constitution from "./constitution.js" with { type: "text" };
import majorityResolve from "./resolve.js" with { type: "text" };
import acceptAllResolve from "./acceptAllResolve.js" with { type: "text" };

/** An import of a sibling part (`deno fmt` may spread its names over several lines). */
const PART_IMPORT = /^import [^;]+ from "\.\/[\w.]+";\n/gm;
/** The `export` of a declaration a later part imports. */
const PART_EXPORT = /^export (?=(?:class|const|function) )/gm;

/** The parts that define the actions, whose exports only serve the parts after them. */
const LIBRARY = [helpers, appActions, identityActions, jwtActions, serviceActions, nodeActions];

/** One module from the parts in order: only the exports of the `entry` parts remain. */
function joinParts(library: readonly string[], entry: readonly string[]): string {
  const local = (part: string) => part.replace(PART_IMPORT, "");
  return [
    ...library.map((part) => local(part).replace(PART_EXPORT, "")),
    ...entry.map(local),
  ].join("\n");
}

/** The default constitution, as stored in `public:ccf.gov.constitution`. */
export const DEFAULT_CONSTITUTION: string = joinParts(LIBRARY, [constitution, majorityResolve]);

/**
 * The default constitution with the `resolve` of CCF's `sandbox.sh`: every proposal is Accepted
 * when it is proposed.
 */
export const ACCEPT_ALL_CONSTITUTION: string = joinParts(LIBRARY, [
  constitution,
  acceptAllResolve,
]);
