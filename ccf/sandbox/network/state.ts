/**
 * Which node of a workspace's network was primary when it last ran, kept in
 * `sandbox_common/network.json`: a restart continues from that node's ledger, since the others
 * may lag behind it or hold transactions it never had.
 */
import { join } from "node:path";
import { workspacePaths } from "../node/workspace.ts";
import { readStateField, writeStateFile } from "../stateFile.ts";

const STATE_FILE = "network.json";

const statePath = (workspace: string): string => join(workspacePaths(workspace).common, STATE_FILE);

/** The index of the last primary (0 for a workspace that never ran as a network). */
export function lastPrimary(workspace: string): number {
  const path = statePath(workspace);
  const file = readStateField(path, "primary");
  if (file === undefined) return 0;
  const primary = file.value;
  if (!Number.isSafeInteger(primary) || (primary as number) < 0) {
    throw new Error(`${path} does not name the last primary ({"primary": <node index>})`);
  }
  return primary as number;
}

/** Records `primary` as the node a restart continues from. */
export function saveLastPrimary(workspace: string, primary: number): void {
  writeStateFile(statePath(workspace), { primary });
}

/**
 * Throws unless `nodes` nodes include the last primary, with what to do instead: started without
 * it, the network would continue from an older ledger.
 */
export function assertLastPrimaryIncluded(workspace: string, nodes: number): void {
  const primary = lastPrimary(workspace);
  if (primary < nodes) return;
  throw new Error(
    `Node ${primary} was the primary when the network on ${workspace} last ran, and the other ` +
      `nodes may lack its last transactions: start at least ${primary + 1} nodes (--nodes ` +
      `${primary + 1}) so that the service continues from its ledger`,
  );
}
