/**
 * Limits on a proposal, checked before any constitution code runs. Without them, a proposal nested
 * 100,000 levels deep overflows QuickJS's stack in `validate`, and one with 20,000 actions runs
 * `apply` past its time limit: CCF answers both with 500, the sandbox with a 400 that says which
 * limit was passed. Real proposals are far inside them (the KMS's `set_js_app` nests 14 levels
 * and every KMS command proposes at most 2 actions); the node's 1 MiB body limit caps the bytes.
 */
import { type GovError, govError } from "./errors.ts";

/** The deepest nesting of JSON arrays and objects a proposal may have. */
export const MAX_PROPOSAL_DEPTH = 64;
/** The most actions one proposal may hold. */
export const MAX_PROPOSAL_ACTIONS = 100;

const OPEN = new Set(["{", "["]);
const CLOSE = new Set(["}", "]"]);

/**
 * Whether the arrays and objects of JSON text `text` nest deeper than `limit`. A scan, not a
 * parse, so that no input can exhaust a stack; malformed JSON is left to `validate`.
 */
export function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
    } else if (OPEN.has(c)) {
      if (++depth > limit) return true;
    } else if (CLOSE.has(c)) {
      depth--;
    }
  }
  return false;
}

const actionCount = (proposal: string): number => {
  try {
    const actions = (JSON.parse(proposal) as { actions?: unknown } | null)?.actions;
    return Array.isArray(actions) ? actions.length : 0;
  } catch {
    return 0;
  }
};

/** The refusal of a proposal (its JSON text) beyond the limits, or `undefined`. */
export function checkProposalLimits(proposal: string): GovError | undefined {
  if (nestsDeeperThan(proposal, MAX_PROPOSAL_DEPTH)) {
    return govError(
      400,
      "InvalidInput",
      `Proposal nests JSON arrays and objects more than ${MAX_PROPOSAL_DEPTH} levels deep, ` +
        "the sandbox's limit: flatten its arguments",
    );
  }
  const count = actionCount(proposal);
  if (count > MAX_PROPOSAL_ACTIONS) {
    return govError(
      400,
      "InvalidInput",
      `Proposal has ${count} actions; the sandbox accepts at most ${MAX_PROPOSAL_ACTIONS} in ` +
        "one proposal: split it into several proposals",
    );
  }
  return undefined;
}
