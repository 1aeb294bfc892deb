/**
 * Runs the constitution's functions and members' ballots in QuickJS, each call in a fresh
 * governance context (quickjs/governanceContext.ts) over the governance transaction, with CCF's
 * argument conventions and its limits (`js_runtime_options`, never lower than the defaults).
 */
import {
  constitution as constitutionTable,
  jsRuntimeOptions,
  proposalsInfo,
  singletonKey,
} from "../govTables.ts";
import type { KvTransaction } from "../kv.ts";
import type { QuickJSEngine } from "../quickjs/engine.ts";
import {
  type GovernanceEffects,
  type GovernanceLimits,
  type GovernanceResult,
  runGovernanceFunction,
} from "../quickjs/governanceContext.ts";
import type { HostValue } from "../quickjs/values.ts";
import { DEFAULT_LIMITS } from "../quickjs/runtime.ts";
import { compileAppModules } from "./appCompile.ts";
import { removeJwtPublicSigningKeys, setJwtPublicSigningKeys } from "./jwks.ts";
import { fromUtf8 } from "./tables.ts";

/** Why a constitution function or a ballot failed: CCF's `{reason, trace?}`. */
export interface Failure {
  readonly reason: string;
  readonly trace?: string;
}

/** A counted vote as `resolve` receives it. */
export interface Vote {
  readonly member_id: string;
  readonly vote: boolean;
}

/** A value, or the failure of the script that should have produced it. */
export type Outcome<T> = { readonly ok: true; readonly value: T } | {
  readonly ok: false;
  readonly failure: Failure;
  /** The script broke the QuickJS instance it ran on (which was retired). */
  readonly engineFailure?: boolean;
};

/** Module names CCF reports in traces. */
const CONSTITUTION_MODULE = `${constitutionTable}[0]`;
const ballotModule = (proposalId: string, memberId: string) =>
  `${proposalsInfo}[${proposalId}].ballots[${memberId}]`;

/** `js_runtime_options` of `tx`, raised to the defaults where lower. */
function limitsOf(tx: KvTransaction): GovernanceLimits {
  const raw = tx.get(jsRuntimeOptions, singletonKey);
  let o: Record<string, unknown> = {};
  try {
    if (raw !== undefined) o = JSON.parse(fromUtf8(raw));
  } catch {
    // Unreadable options leave the defaults in force.
  }
  const atLeast = (v: unknown, floor: number) => (typeof v === "number" && v > floor ? v : floor);
  return {
    maxExecutionTimeMs: atLeast(o.max_execution_time_ms, DEFAULT_LIMITS.maxExecutionTimeMs),
    maxHeapBytes: atLeast(o.max_heap_bytes, DEFAULT_LIMITS.maxHeapBytes),
    maxStackBytes: atLeast(o.max_stack_bytes, DEFAULT_LIMITS.maxStackBytes),
  };
}

/** Options of a {@link ConstitutionRunner}. */
export interface RunnerOptions {
  /** Receives `console` output of constitution code and ballots. */
  readonly log?: (line: string) => void;
}

/** See the module documentation. */
export class ConstitutionRunner {
  readonly #engine: QuickJSEngine;
  readonly #log: (line: string) => void;
  /**
   * Ballots that broke a QuickJS instance, with the reason: running them again at every vote
   * would break one instance per vote, faster than spares load, so they fail without running.
   */
  readonly #breaking = new Map<string, Failure>();

  constructor(engine: QuickJSEngine, options: RunnerOptions = {}) {
    this.#engine = engine;
    this.#log = options.log ?? (() => {});
  }

  /** Resolves once the engine has its spare instance loaded again (after a failure). */
  ready(): Promise<void> {
    return this.#engine.ready();
  }

  /** `validate(proposal)` → `{valid, description}`; any other shape is a failure. */
  validate(
    tx: KvTransaction,
    constitution: string,
    proposal: string,
  ): Outcome<{ valid: boolean; description: string }> {
    const r = this.#run(tx, constitution, CONSTITUTION_MODULE, "validate", [proposal], false);
    if (!r.ok) return r;
    const v = r.value as { valid?: unknown; description?: unknown } | null;
    if (typeof v !== "object" || v === null) {
      return { ok: false, failure: { reason: "Validation failed to return an object" } };
    }
    return {
      ok: true,
      value: {
        valid: v.valid === true,
        description: typeof v.description === "string" ? v.description : "",
      },
    };
  }

  /** A member's ballot: `vote(proposal, proposerId)`, counted as yes only when it is `true`. */
  vote(
    tx: KvTransaction,
    ballot: string,
    proposal: string,
    proposerId: string,
    at: { proposalId: string; memberId: string },
  ): Outcome<boolean> {
    const broke = this.#breaking.get(ballot);
    if (broke) return { ok: false, failure: broke };
    const name = ballotModule(at.proposalId, at.memberId);
    const r = this.#run(tx, ballot, name, "vote", [proposal, proposerId], false);
    if (r.ok) return { ok: true, value: r.value === true };
    if (r.engineFailure) this.#breaking.set(ballot, r.failure);
    return r;
  }

  /** `resolve(proposal, proposerId, votes, proposalId)` → its return value as a string. */
  resolve(
    tx: KvTransaction,
    constitution: string,
    proposal: string,
    proposerId: string,
    votes: readonly Vote[],
    proposalId: string,
  ): Outcome<string> {
    const args: HostValue[] = [
      proposal,
      proposerId,
      votes.map((v) => ({ member_id: v.member_id, vote: v.vote })),
      proposalId,
    ];
    const r = this.#run(tx, constitution, CONSTITUTION_MODULE, "resolve", args, false);
    return r.ok ? { ok: true, value: String(r.value) } : r;
  }

  /** `apply(proposal, proposalId)` with write access and the governance effects. */
  apply(
    tx: KvTransaction,
    constitution: string,
    proposal: string,
    proposalId: string,
  ): Outcome<undefined> {
    const r = this.#run(
      tx,
      constitution,
      CONSTITUTION_MODULE,
      "apply",
      [proposal, proposalId],
      true,
    );
    return r.ok ? { ok: true, value: undefined } : r;
  }

  #run(
    tx: KvTransaction,
    source: string,
    moduleName: string,
    exportName: string,
    args: HostValue[],
    applying: boolean,
  ): Outcome<unknown> {
    let module;
    try {
      module = this.#engine.module;
    } catch (e) {
      return { ok: false, failure: { reason: (e as Error).message } };
    }
    const effects: GovernanceEffects = {
      setJwtPublicSigningKeys: (issuer, metadata, jwks) =>
        setJwtPublicSigningKeys(tx, issuer, metadata, jwks),
      removeJwtPublicSigningKeys: (issuer) => removeJwtPublicSigningKeys(tx, issuer),
      refreshAppBytecodeCache: () => compileAppModules(module, tx),
    };
    const result: GovernanceResult = runGovernanceFunction(module, {
      source,
      moduleName,
      exportName,
      args,
      tx,
      applying,
      effects: applying ? effects : undefined,
      limits: limitsOf(tx),
      log: (entry) => this.#log(`${moduleName} ${entry.level}: ${entry.message}`),
    });
    if (result.ok) return { ok: true, value: result.value };
    const failure = result.trace === undefined
      ? { reason: result.reason }
      : { reason: result.reason, trace: result.trace };
    if (!result.engineFailure) return { ok: false, failure };
    this.#engine.retire(module);
    return { ok: false, failure, engineFailure: true };
  }
}
