/**
 * The proposal state machine of CCF's governance (CCF's documentation, Governance: Proposals), over a store
 * that commits each operation as one ledger transaction:
 *
 * - create: authenticate (Active member, `proposal`), check created_at against the node's clock
 *   and the proposal against the sandbox's limits (limits.ts, before any constitution code runs),
 *   derive the id from the state root and the signature, `validate` (invalid → 400 with its
 *   description), record the proposal Open, refuse replays (same `created_at` and signature
 *   within the recent window, or older than the median of that window), then resolve;
 * - ballot: authenticate (`ballot`, proposal id signed), record the ballot (the same one again is
 *   idempotent, a different one refused), then resolve;
 * - resolve: run every ballot (`vote(proposal, proposerId)`, failures recorded per member), then
 *   the constitution's `resolve`; a proposal leaving Open drops the other closed proposals (as
 *   CCF does; the ledger keeps them), freezes `final_votes`/`vote_failures`, and when Accepted
 *   runs `apply` in the same transaction;
 * - withdraw: only by the proposer, only while Open (an unknown proposal answers 204).
 *
 * When `resolve` or `apply` throws (or `resolve` answers something else than a state), CCF
 * answers 500 with the failure and discards the whole transaction, partial writes of `apply`
 * included: a new proposal is not recorded at all, a ballot is not recorded and its proposal stays
 * Open with the ballots it had. The sandbox does the same.
 */
import { createHash } from "node:crypto";
import { type ProposalInfo, proposals as proposalsTable, proposalsInfo } from "../govTables.ts";
import type { KvCommit, KvStore, KvTransaction } from "../kv.ts";
import { authenticateMember, type GovRequestBody, isGovError, type SignedRequest } from "./auth.ts";
import type { GovMessageType } from "../../gov/cose.ts";
import { fail, type GovError, govError, type GovResult, ok } from "./errors.ts";
import { acknowledgeStateDigest, refreshStateDigest, type StateDigestView } from "./acks.ts";
import { checkProposalLimits } from "./limits.ts";
import { checkCreatedAtWindow, checkSubmissionTime } from "./replay.ts";
import type { ConstitutionRunner, Failure, Vote } from "./runner.ts";
import {
  coseHistory,
  entries,
  fromUtf8,
  readConstitution,
  readProposalInfo,
  utf8,
  writeJson,
} from "./tables.ts";

/** Where governance reads and commits. */
export interface GovernanceStore {
  /** A transaction over the committed state; never committed. */
  readTransaction(): KvTransaction;
  /**
   * Runs `fn` on a new transaction and commits it as one ledger entry; when `fn` throws nothing
   * is written and the error propagates.
   */
  commit(fn: (tx: KvTransaction) => void): KvCommit | null;
  /** The Merkle root of the ledger as the next transaction reads it (proposal ids, digests). */
  stateRoot(): Uint8Array;
}

/** A {@link GovernanceStore} over a bare {@link KvStore} (tests, tools without a node). */
export function kvStoreBackend(store: KvStore): GovernanceStore {
  return {
    readTransaction: () => store.begin(),
    commit: (fn) => {
      const tx = store.begin();
      fn(tx);
      return store.commit(tx);
    },
    stateRoot: () => createHash("sha256").update(store.lastTxId).digest(),
  };
}

/** A proposal with its id. */
export interface ProposalView {
  readonly proposalId: string;
  readonly info: ProposalInfo;
}

/** Options of a {@link ProposalService}. */
export interface ProposalServiceOptions {
  /** Receives one line per governance event. */
  readonly log?: (line: string) => void;
  /** The node's clock, milliseconds since the epoch (default `Date.now`), for created_at. */
  readonly clock?: () => number;
}

/** Thrown inside a transaction to discard it; carries the answer. */
class Abort {
  constructor(readonly result: GovResult<unknown>) {}
}

/** Discards the transaction and answers `error`. */
const refuse = (error: GovError): Abort => new Abort(fail(error));

/**
 * CCF's answer when `resolve` or `apply` failed: 500, the failure's reason and trace, and nothing
 * written.
 */
const constitutionFailed = (reason: string, trace?: string): Abort =>
  refuse(govError(500, "InternalError", `${reason}\nTrace: ${trace ?? "N/A"}`));

/** The message types of an Active member's requests, whose created_at the node's clock bounds. */
const DATED_MESSAGES: ReadonlySet<GovMessageType> = new Set(["proposal", "ballot", "withdrawal"]);

const HEX_ID = /^[0-9a-fA-F]{64}$/;

const invalidId = (kind: string, value: string): GovError =>
  govError(400, "InvalidResourceName", `'${value}' is not a valid hex-encoded ${kind} ID`);

/** CCF's answer for a proposal id it does not hold. */
export const proposalNotFound = (proposalId: string): GovError =>
  govError(404, "ProposalNotFound", `Could not find proposal ${proposalId}.`);

/** Checks a path id; `undefined` when it is plausible. */
export const checkPathId = (kind: "proposal" | "member" | "user", value: string) =>
  HEX_ID.test(value) ? undefined : invalidId(kind, value);

/** See the module documentation. */
export class ProposalService {
  readonly #store: GovernanceStore;
  readonly #runner: ConstitutionRunner;
  readonly #log: (line: string) => void;
  readonly #clock: () => number;

  constructor(
    store: GovernanceStore,
    runner: ConstitutionRunner,
    options: ProposalServiceOptions = {},
  ) {
    this.#store = store;
    this.#runner = runner;
    this.#log = options.log ?? (() => {});
    this.#clock = options.clock ?? Date.now;
  }

  /**
   * Resolves when QuickJS is ready for an operation: after a script broke an instance, the
   * spare that replaced it must be replaced in turn before the next operation may need it.
   */
  ready(): Promise<void> {
    return this.#runner.ready();
  }

  /** Runs `fn` on a transaction of the committed state that is never committed. */
  read<T>(fn: (tx: KvTransaction) => T): T {
    return fn(this.#store.readTransaction());
  }

  /** `POST /gov/members/proposals:create`. */
  create(request: GovRequestBody): GovResult<ProposalView> {
    return this.#transact((tx) => {
      const signed = this.#authenticate(tx, request, "proposal", true);
      const constitution = this.#constitution(tx, "proposals");
      const proposal = fromUtf8(signed.message.payload);
      const beyondLimits = checkProposalLimits(proposal);
      if (beyondLimits) throw refuse(beyondLimits);
      const requestDigest = createHash("sha256").update(signed.message.signature).digest();
      const proposalId = createHash("sha256").update(this.#store.stateRoot()).update(requestDigest)
        .digest("hex");

      const checked = this.#runner.validate(tx, constitution, proposal);
      if (!checked.ok) {
        const { reason, trace } = checked.failure;
        throw refuse(
          govError(
            500,
            "InternalError",
            `Failed to execute validation: ${reason} ${trace ?? ""}`.trim(),
          ),
        );
      }
      if (!checked.value.valid) {
        throw refuse(
          govError(
            400,
            "ProposalFailedToValidate",
            `Proposal failed to validate: ${checked.value.description}`,
          ),
        );
      }
      if (tx.has(proposalsTable, utf8(proposalId))) {
        throw refuse(govError(500, "InternalError", "Proposal ID collision."));
      }
      tx.set(proposalsTable, utf8(proposalId), signed.message.payload);
      const info: ProposalInfo = { proposer_id: signed.memberId, state: "Open", ballots: {} };
      writeJson(tx, proposalsInfo, proposalId, info);
      this.#recordHistory(tx, signed);
      const replay = checkSubmissionTime(
        tx,
        signed.message.headers.createdAt,
        requestDigest,
        proposalId,
      );
      if (replay) throw refuse(replay);

      const resolved = this.#resolve(tx, proposalId, proposal, info, constitution);
      this.#log(
        `governance: proposal ${proposalId} by ${
          signed.memberId.slice(0, 12)
        }… is ${resolved.state}`,
      );
      return { proposalId, info: resolved };
    });
  }

  /**
   * `POST /gov/members/proposals/{id}/ballots/{memberId}:submit` (and the classic ballot route,
   * where `memberId` is `undefined`).
   */
  submitBallot(
    request: GovRequestBody,
    proposalId: string,
    memberId?: string,
  ): GovResult<ProposalView> {
    return this.#transact((tx) => {
      const signed = this.#authenticate(tx, request, "ballot", true);
      this.#checkSignedProposalId(signed, proposalId);
      if (memberId !== undefined) this.#checkSignedMemberId(signed, memberId);
      const info = readProposalInfo(tx, proposalId);
      const proposalBytes = tx.get(proposalsTable, utf8(proposalId));
      if (!info || proposalBytes === undefined) throw refuse(proposalNotFound(proposalId));
      if (info.state !== "Open") {
        throw refuse(
          govError(
            400,
            "ProposalNotOpen",
            `Proposal ${proposalId} is currently in state ${info.state} - only Open proposals can receive votes`,
          ),
        );
      }
      const ballot = parseBallot(signed.message.payload);
      const constitution = this.#constitution(tx, "ballots");
      const previous = info.ballots[signed.memberId];
      if (previous !== undefined) {
        if (previous === ballot) throw new Abort(ok({ proposalId, info }));
        throw refuse(
          govError(
            400,
            "VoteAlreadyExists",
            `Different ballot already submitted by ${signed.memberId} for ${proposalId}.`,
          ),
        );
      }
      const withBallot: ProposalInfo = {
        ...info,
        ballots: { ...info.ballots, [signed.memberId]: ballot },
      };
      writeJson(tx, proposalsInfo, proposalId, withBallot);
      this.#recordHistory(tx, signed);
      const resolved = this.#resolve(
        tx,
        proposalId,
        fromUtf8(proposalBytes),
        withBallot,
        constitution,
      );
      this.#log(
        `governance: ballot of ${
          signed.memberId.slice(0, 12)
        }… on ${proposalId}: ${resolved.state}`,
      );
      return { proposalId, info: resolved };
    });
  }

  /**
   * `POST /gov/members/proposals/{id}:withdraw`: the proposal, or `null` (204) when it is
   * unknown.
   */
  withdraw(request: GovRequestBody, proposalId: string): GovResult<ProposalView | null> {
    return this.#transact((tx) => {
      const signed = this.#authenticate(tx, request, "withdrawal", true);
      this.#checkSignedProposalId(signed, proposalId);
      const info = readProposalInfo(tx, proposalId);
      if (!info) return null;
      if (signed.memberId !== info.proposer_id) {
        throw refuse(
          govError(
            403,
            "AuthorizationFailed",
            `Proposal ${proposalId} can only be withdrawn by proposer ${info.proposer_id}, not caller ${signed.memberId}.`,
          ),
        );
      }
      if (info.state === "Withdrawn") throw new Abort(ok({ proposalId, info }));
      if (info.state !== "Open") {
        throw refuse(
          govError(
            400,
            "ProposalNotOpen",
            `Proposal ${proposalId} is currently in state ${info.state} and cannot be withdrawn.`,
          ),
        );
      }
      const withdrawn: ProposalInfo = { ...info, state: "Withdrawn" };
      writeJson(tx, proposalsInfo, proposalId, withdrawn);
      removeOtherClosedProposals(tx, proposalId);
      this.#recordHistory(tx, signed);
      this.#log(`governance: proposal ${proposalId} withdrawn`);
      return { proposalId, info: withdrawn };
    });
  }

  /**
   * `POST /gov/members/state-digests/{memberId}:update`: a fresh digest (the Merkle root) for
   * the member to acknowledge. Any registered member may ask, Active or not.
   */
  updateStateDigest(request: GovRequestBody, memberId?: string): GovResult<StateDigestView> {
    return this.#transact((tx) => {
      const signed = this.#authenticate(tx, request, "state_digest", false);
      if (memberId !== undefined) this.#checkSignedMemberId(signed, memberId);
      return refreshStateDigest(tx, signed.memberId, this.#store.stateRoot());
    });
  }

  /**
   * `POST /gov/members/state-digests/{memberId}:ack`: the member signs the digest it was given
   * (`{stateDigest}`, classic `{state_digest}`) and becomes Active.
   */
  ack(request: GovRequestBody, memberId?: string): GovResult<null> {
    return this.#transact((tx) => {
      const signed = this.#authenticate(tx, request, "ack", false);
      if (memberId !== undefined) this.#checkSignedMemberId(signed, memberId);
      const outcome = acknowledgeStateDigest(tx, signed);
      if (typeof outcome !== "boolean") throw refuse(outcome);
      if (outcome) this.#log(`governance: member ${signed.memberId.slice(0, 12)}… is now Active`);
      this.#recordHistory(tx, signed);
      return null;
    });
  }

  #authenticate(
    tx: KvTransaction,
    request: GovRequestBody,
    type: GovMessageType,
    activeOnly: boolean,
  ): SignedRequest {
    const signed = authenticateMember(tx, request, type, activeOnly);
    if (isGovError(signed)) throw refuse(signed);
    if (DATED_MESSAGES.has(type)) {
      const outOfWindow = checkCreatedAtWindow(signed.message.headers.createdAt, this.#clock());
      if (outOfWindow) throw refuse(outOfWindow);
    }
    return signed;
  }

  #constitution(tx: KvTransaction, what: string): string {
    const constitution = readConstitution(tx);
    if (constitution === undefined) {
      throw refuse(
        govError(500, "InternalError", `No constitution is set - ${what} cannot be evaluated`),
      );
    }
    return constitution;
  }

  #checkSignedProposalId(signed: SignedRequest, proposalId: string): void {
    const invalid = checkPathId("proposal", proposalId);
    if (invalid) throw refuse(invalid);
    if (signed.message.headers.proposalId !== proposalId) {
      throw refuse(
        govError(400, "InvalidResourceName", "Authenticated proposal id does not match URL"),
      );
    }
  }

  #checkSignedMemberId(signed: SignedRequest, memberId: string): void {
    const invalid = checkPathId("member", memberId);
    if (invalid) throw refuse(invalid);
    if (signed.memberId !== memberId) {
      throw refuse(
        govError(400, "InvalidResourceName", "Authenticated member id does not match URL"),
      );
    }
  }

  #recordHistory(tx: KvTransaction, signed: SignedRequest): void {
    tx.set(coseHistory, utf8(signed.memberId), signed.envelope);
  }

  #resolve(
    tx: KvTransaction,
    proposalId: string,
    proposal: string,
    info: ProposalInfo,
    constitution: string,
  ): ProposalInfo {
    const votes: Vote[] = [];
    const failures: Record<string, Failure> = {};
    for (const memberId of Object.keys(info.ballots).sort()) {
      const r = this.#runner.vote(tx, info.ballots[memberId], proposal, info.proposer_id, {
        proposalId,
        memberId,
      });
      if (r.ok) votes.push({ member_id: memberId, vote: r.value });
      else failures[memberId] = r.failure;
    }
    const outcome = this.#runner.resolve(
      tx,
      constitution,
      proposal,
      info.proposer_id,
      votes,
      proposalId,
    );
    if (!outcome.ok) {
      throw constitutionFailed(
        `Failed to resolve(): ${outcome.failure.reason}`,
        outcome.failure.trace,
      );
    }
    if (!["Open", "Accepted", "Rejected"].includes(outcome.value)) {
      throw constitutionFailed(`resolve() returned invalid status value: "${outcome.value}"`);
    }
    let next: ProposalInfo = { ...info, state: outcome.value as ProposalInfo["state"] };
    if (next.state !== "Open") {
      removeOtherClosedProposals(tx, proposalId);
      next = {
        ...next,
        final_votes: Object.fromEntries(votes.map((v) => [v.member_id, v.vote])),
        vote_failures: failures,
      };
    }
    // Written before `apply` runs, so that the actions see the proposal as decided.
    writeJson(tx, proposalsInfo, proposalId, next);
    if (next.state !== "Accepted") return next;
    const applied = this.#runner.apply(tx, constitution, proposal, proposalId);
    if (!applied.ok) {
      this.#log(`governance: apply of ${proposalId} failed: ${applied.failure.reason}`);
      throw constitutionFailed(
        `Failed to apply(): ${applied.failure.reason}`,
        applied.failure.trace,
      );
    }
    return next;
  }

  /** Runs `op` as one transaction; an {@link Abort} discards it and answers its error. */
  #transact<T>(op: (tx: KvTransaction) => T): GovResult<T> {
    let value: T | undefined;
    try {
      this.#store.commit((tx) => {
        value = op(tx);
      });
    } catch (e) {
      // An Abort carries the answer of the operation it ends, so its type is the operation's.
      if (e instanceof Abort) return e.result as GovResult<T>;
      throw e;
    }
    return ok(value as T);
  }
}

function parseBallot(payload: Uint8Array): string {
  let ballot: unknown;
  try {
    ballot = (JSON.parse(fromUtf8(payload)) as { ballot?: unknown } | null)?.ballot;
  } catch {
    ballot = undefined;
  }
  if (typeof ballot !== "string") {
    throw refuse(
      govError(
        400,
        "InvalidInput",
        'Signed request body is not a JSON object containing required string field "ballot"',
      ),
    );
  }
  return ballot;
}

/** CCF keeps one closed proposal at a time in the tables: closing one removes the others. */
function removeOtherClosedProposals(tx: KvTransaction, proposalId: string): void {
  for (const [id, raw] of entries(tx, proposalsInfo)) {
    if (id === proposalId) continue;
    const info = JSON.parse(fromUtf8(raw)) as ProposalInfo;
    if (info.state === "Open") continue;
    tx.delete(proposalsTable, utf8(id));
    tx.delete(proposalsInfo, utf8(id));
  }
}
