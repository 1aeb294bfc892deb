/**
 * The KMS's governance actions, compiled by `deno task bundle` into
 * `dist/constitution/kms_actions.js` and appended to a CCF constitution, whose `actions` map and
 * `Action` class they extend (as CCF's own custom-action samples do). Validation and the transition
 * are the core's; this file only reads and writes the governance tables.
 */
import { ccf } from "@microsoft/ccf-app/global.js";
import * as E from "fp-ts/lib/Either.js";
import { decodeJwtValidationArgs } from "../../core/attestation/jwtValidation.ts";
import type { KmsError } from "../../core/errors.ts";
import { policyActions } from "../../core/policy/governance.ts";
import { jwtValidationTable } from "../../core/tables.ts";

type Validate = (args: unknown) => void;
type Apply = (args: unknown, proposalId: string) => void;
declare const actions: Map<string, unknown>;
declare const Action: new (validate: Validate, apply: Apply) => unknown;

const read = (map: string, key: string): unknown => {
  const value = ccf.kv[map].get(ccf.strToBuf(key));
  return value === undefined ? undefined : ccf.bufToJsonCompatible(value);
};

const write = (map: string, key: string, value: unknown): void => {
  ccf.kv[map].set(ccf.strToBuf(key), ccf.jsonCompatibleToBuf(value as never));
};

/** A refusal reaches the proposer as the proposal's failure reason, so it says what to change. */
const orThrow = <A>(result: E.Either<KmsError, A>): A => {
  if (E.isLeft(result)) throw new Error(result.left.message);
  return result.right;
};

for (const [name, { table, transition }] of Object.entries(policyActions)) {
  const next = (args: unknown) => orThrow(transition(read(table.map, table.key), args));
  actions.set(
    name,
    new Action(
      (args) => void next(args),
      (args, proposalId) => {
        const stored = next(args);
        write(table.map, table.key, stored);
        // Every version stays readable without replaying the ledger.
        write(table.history, String(stored.version), { ...stored, proposalId });
      },
    ),
  );
}

actions.set(
  "set_jwt_validation_policy",
  new Action(
    (args) => void orThrow(decodeJwtValidationArgs(args)),
    (args, proposalId) => {
      const { issuer, validation_policy } = orThrow(decodeJwtValidationArgs(args));
      write(jwtValidationTable.map, issuer, validation_policy);
      write(jwtValidationTable.history, proposalId, { issuer, validation_policy });
    },
  ),
);
