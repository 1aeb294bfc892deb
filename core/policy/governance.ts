/**
 * The KMS governance actions as pure transitions: each takes a proposal's argument and the stored
 * value in force, and yields the next stored value (version + 1) or the reason it is refused. The
 * constitution runs the same transition in `validate` (against the state at proposal time, for an
 * early answer) and in `apply` (against the state at acceptance, which is what counts).
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { decodeWith, nextVersion } from "../codec.ts";
import { internal, type KmsError } from "../errors.ts";
import { keyReleaseTable, type PolicyTable, rotationTable, settingsTable } from "../tables.ts";
import { decodeStoredPolicy, emptyStoredPolicy } from "./keyRelease.ts";
import { applyChange, decodeKeyReleaseChange } from "./keyReleaseChange.ts";
import { decodeRotationArgs, initialRotationPolicy, StoredRotationPolicy } from "./rotation.ts";
import { decodeSettingsArgs, initialSettings, StoredSettings } from "./settings.ts";

/** A stored governance value: the policy with the version its last accepted change produced. */
export interface Stored {
  readonly version: number;
  readonly policy: unknown;
}

/** A governance action on one versioned policy table. */
export interface PolicyAction {
  readonly table: PolicyTable;
  /**
   * The next stored value for a proposal's argument, from the stored one (undefined while the table
   * is empty). A corrupt stored value is the service's fault (`Internal`); a bad argument or change
   * is the proposer's (`InvalidInput`).
   */
  readonly transition: (stored: unknown, args: unknown) => E.Either<KmsError, Stored>;
}

const policyAction = <S extends Stored>(
  table: PolicyTable,
  decodeStored: (u: unknown) => E.Either<KmsError, S>,
  initial: S,
  next: (args: unknown, current: S) => E.Either<KmsError, S>,
): PolicyAction => ({
  table,
  transition: (stored, args) =>
    pipe(
      stored === undefined ? E.right(initial) : decodeStored(stored),
      E.mapLeft((e) => internal(`the stored ${table.key} is corrupt: ${e.message}`)),
      E.flatMap((current) => next(args, current)),
    ),
});

const replaceWith =
  <P>(what: string, decodeArgs: (args: unknown) => E.Either<KmsError, P>) =>
  (args: unknown, current: { readonly version: number }) =>
    pipe(
      decodeArgs(args),
      E.flatMap((policy) =>
        E.map((version: number) => ({ version, policy }))(nextVersion(current.version, what))
      ),
    );

/** The KMS's versioned policy actions, by constitution action name. */
export const policyActions: Readonly<Record<string, PolicyAction>> = {
  set_key_release_policy: policyAction(
    keyReleaseTable,
    decodeStoredPolicy,
    emptyStoredPolicy,
    (args, current) =>
      pipe(decodeKeyReleaseChange(args), E.flatMap((c) => applyChange(current, c))),
  ),
  set_settings_policy: policyAction(
    settingsTable,
    decodeWith(StoredSettings, "settings"),
    initialSettings,
    replaceWith("settings", decodeSettingsArgs),
  ),
  set_key_rotation_policy: policyAction(
    rotationTable,
    decodeWith(StoredRotationPolicy, "rotation policy"),
    initialRotationPolicy,
    replaceWith("rotation policy", decodeRotationArgs),
  ),
};
