/**
 * Appending the KMS actions to a constitution, as CCF's custom-action samples do: the compiled
 * actions extend the constitution's own `actions` map, so they go after it, between markers that
 * let a later build replace them instead of stacking a second copy.
 */

/** The line that opens the KMS block. */
export const kmsBlockBegin = "// ---- KMS governance actions (deno task kms constitution) ----";
/** The line that closes it. */
export const kmsBlockEnd = "// ---- end of KMS governance actions ----";

/** What appending did. */
export type AppendOutcome =
  /** The constitution already holds these very actions: nothing to propose. */
  | { readonly kind: "present" }
  /** The actions were appended. */
  | { readonly kind: "appended"; readonly constitution: string }
  /** A KMS block from another build was replaced by this one. */
  | { readonly kind: "replaced"; readonly constitution: string };

const block = (actions: string): string => `${kmsBlockBegin}\n${actions.trim()}\n${kmsBlockEnd}\n`;

/**
 * Adds `actions` (the content of `dist/constitution/kms_actions.js`) to `constitution`. Idempotent:
 * applying it to its own result reports `present`. A constitution that holds the actions without
 * markers (appended by another tool) counts as present too.
 */
export const appendKmsActions = (constitution: string, actions: string): AppendOutcome => {
  const code = actions.trim();
  if (code === "") throw new Error("the KMS actions are empty: rebuild them with --build");
  const begin = constitution.indexOf(kmsBlockBegin);
  const end = begin < 0 ? -1 : constitution.indexOf(kmsBlockEnd, begin);
  if (begin >= 0 && end >= 0) {
    const current = constitution.slice(begin + kmsBlockBegin.length, end).trim();
    if (current === code) return { kind: "present" };
    const after = constitution.slice(end + kmsBlockEnd.length).replace(/^\r?\n/, "");
    return { kind: "replaced", constitution: constitution.slice(0, begin) + block(code) + after };
  }
  if (constitution.includes(code)) return { kind: "present" };
  const separator = constitution === "" || constitution.endsWith("\n") ? "\n" : "\n\n";
  return { kind: "appended", constitution: `${constitution}${separator}${block(code)}` };
};
