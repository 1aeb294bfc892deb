/**
 * The sandbox's small state files (`ledger.signed`, `network.json`): one JSON object each, whose
 * absence means "nothing recorded yet".
 */
import { dirname } from "node:path";

/**
 * The file at `path`: its text and the value of its JSON field `field` (`undefined` when the text
 * is not a JSON object with it), or `undefined` when there is no such file.
 */
export const readStateField = (
  path: string,
  field: string,
): { readonly text: string; readonly value: unknown } | undefined => {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  try {
    return { text, value: (JSON.parse(text) as Record<string, unknown> | null)?.[field] };
  } catch {
    return { text, value: undefined };
  }
};

/**
 * Replaces the file at `path` by `value` as JSON, through a temporary file and a rename, so that a
 * crash leaves the old content or the new one, never half of it. The new content is flushed before
 * the rename and the rename before returning, or a power loss could keep the rename and lose the
 * content.
 */
export const writeStateFile = (path: string, value: unknown): void => {
  const tmp = `${path}.tmp`;
  Deno.writeTextFileSync(tmp, JSON.stringify(value) + "\n");
  flush(tmp);
  Deno.renameSync(tmp, path);
  flush(dirname(path));
};

const flush = (path: string): void => {
  const file = Deno.openSync(path, { read: true });
  try {
    file.syncSync();
  } finally {
    file.close();
  }
};
