/**
 * Which KV maps app code may read or write, by map namespace and endpoint mode (CCF's
 * `check_kv_map_access` for application contexts).
 *
 * | namespace             | public (`public:` prefix)    | private                    |
 * | --------------------- | ---------------------------- | -------------------------- |
 * | `ccf.internal.*`      | read-only                    | inaccessible               |
 * | `ccf.gov.*`           | read-only                    | inaccessible               |
 * | other `ccf.*`         | error (reserved)             | error (reserved)           |
 * | anything else         | read-write (read-only mode)  | read-write (read-only mode)|
 */

/** What a handle may do: read and write, read only, or nothing. */
export type MapPermission = "rw" | "ro" | "none";

/** A map name in the reserved `ccf.` namespace: CCF fails the whole request. */
export class ReservedMapError extends Error {
  constructor(coreName: string) {
    super(`Map name '${coreName}' includes disallowed reserved prefix 'ccf.'`);
    this.name = "ReservedMapError";
  }
}

/** The execution context CCF names in permission errors. */
export const executionContextName = (readOnly: boolean): string =>
  readOnly ? "read-only application" : "application";

/** Permission of app code on `mapName`; `readOnly` for `readonly` and `historical` endpoints. */
export function appMapPermission(mapName: string, readOnly: boolean): MapPermission {
  const isPublic = mapName.startsWith("public:");
  const core = isPublic ? mapName.slice("public:".length) : mapName;
  const appDefault: MapPermission = readOnly ? "ro" : "rw";
  if (core.startsWith("ccf.internal.") || core.startsWith("ccf.gov.")) {
    return isPublic ? "ro" : "none";
  }
  if (core.startsWith("ccf.")) throw new ReservedMapError(core);
  return appDefault;
}

/**
 * Permission of constitution code on `mapName` (CCF's governance contexts): `validate`, `resolve`
 * and ballots read public governance and internal maps; `apply` (`applying`) also writes public
 * governance maps. Private governance and internal maps stay inaccessible, and so do application
 * maps: CCF 6.0.8 made them write-only in `apply`, earlier releases inaccessible, and the sandbox
 * keeps the stricter rule so that a constitution that works here works on every 6.x release.
 */
export function governanceMapPermission(mapName: string, applying: boolean): MapPermission {
  const isPublic = mapName.startsWith("public:");
  const core = isPublic ? mapName.slice("public:".length) : mapName;
  if (core.startsWith("ccf.gov.")) return isPublic ? (applying ? "rw" : "ro") : "none";
  if (core.startsWith("ccf.internal.")) return isPublic ? "ro" : "none";
  if (core.startsWith("ccf.")) throw new ReservedMapError(core);
  return "none";
}

/** The execution context CCF names in governance permission errors. */
export const governanceContextName = (applying: boolean): string =>
  applying ? "governance" : "read-only governance";
