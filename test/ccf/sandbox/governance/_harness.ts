/** Members, signed requests and an in-memory governed store for the governance tests. */
import { join } from "node:path";
import { buildBundle } from "../../../../scripts/bundle.ts";
import { type GovMessageType, signGovMessage } from "../../../../ccf/gov/cose.ts";
import type { Member } from "../../gov/_harness.ts";
import { DEFAULT_CONSTITUTION } from "../../../../ccf/sandbox/governance/constitution/mod.ts";
import {
  kvStoreBackend,
  ProposalService,
  type ProposalView,
} from "../../../../ccf/sandbox/governance/proposals.ts";
import { ConstitutionRunner } from "../../../../ccf/sandbox/governance/runner.ts";
import type { GovResult } from "../../../../ccf/sandbox/governance/errors.ts";
import { writeConstitution } from "../../../../ccf/sandbox/governance/tables.ts";
import { membersCerts, membersInfo } from "../../../../ccf/sandbox/govTables.ts";
import { KvStore, type KvTransaction } from "../../../../ccf/sandbox/kv.ts";
import { sharedEngine } from "../../../../ccf/sandbox/quickjs/engine.ts";
import type { AppBundle } from "../../../../ccf/sandbox/quickjs/mod.ts";

export { type Member, newMember } from "../../gov/_harness.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** UTF-8 bytes. */
export const utf8 = (s: string): Uint8Array => encoder.encode(s);
/** The string of UTF-8 bytes. */
export const text = (b: Uint8Array | undefined): string | undefined =>
  b === undefined ? undefined : decoder.decode(b);

let clock = 1_700_000_000;
/** Strictly increasing `created_at` values, so no test trips the replay window by accident. */
export const nextCreatedAt = (): number => clock++;
/** The node's clock of the tests (ms): the time of the last {@link nextCreatedAt}. */
export const nodeClock = (): number => (clock - 1) * 1000;

/** A governance request body signed by `member`. */
export function signed(
  member: Member,
  payload: string | Uint8Array,
  type: GovMessageType,
  proposalId?: string,
  createdAt = nextCreatedAt(),
): { headers: Record<string, string>; body: Uint8Array } {
  const bytes = typeof payload === "string" ? utf8(payload) : payload;
  return {
    headers: { "content-type": "application/cose" },
    body: signGovMessage(bytes, member, type, createdAt, proposalId),
  };
}

/** A ballot body voting `accept`. */
export const ballot = (accept: boolean): string =>
  JSON.stringify({ ballot: `export function vote(proposal, proposerId) { return ${accept}; }` });

/** A proposal body. */
export const proposal = (...actions: { name: string; args?: unknown }[]): string =>
  JSON.stringify({ actions });

/** Registers `members` as Active (what the node's genesis does). */
export function registerMembers(tx: KvTransaction, members: readonly Member[]): void {
  for (const m of members) {
    tx.set(membersCerts, utf8(m.id), utf8(m.certPem));
    tx.set(membersInfo, utf8(m.id), utf8(JSON.stringify({ status: "Active" })));
  }
}

/**
 * An in-memory store governed by the default constitution (plus `extra`) and `members`, on the
 * clock of {@link nodeClock} unless `clock` is given.
 */
export async function governedStore(
  members: readonly Member[],
  extra = "",
  clock: () => number = nodeClock,
) {
  const store = new KvStore();
  const genesis = store.begin();
  registerMembers(genesis, members);
  writeConstitution(genesis, DEFAULT_CONSTITUTION + extra);
  store.commit(genesis);
  const engine = await sharedEngine();
  const logs: string[] = [];
  const service = new ProposalService(
    kvStoreBackend(store),
    new ConstitutionRunner(engine, { log: (l) => logs.push(l) }),
    { log: (l) => logs.push(l), clock },
  );
  return { store, service, logs };
}

/** The value of a successful result; fails the test with the error otherwise. */
export function expectOk<T>(result: GovResult<T>): T {
  if (!result.ok) throw new Error(`expected success, got ${JSON.stringify(result.error)}`);
  return result.value;
}

/** Proposes `body` as `by`, then has each of `voters` vote; returns the last view. */
export function decide(
  service: ProposalService,
  by: Member,
  body: string,
  voters: readonly Member[],
  accept = true,
): ProposalView {
  let view = expectOk(service.create(signed(by, body, "proposal")));
  for (const v of voters) {
    view = expectOk(
      service.submitBallot(signed(v, ballot(accept), "ballot", view.proposalId), view.proposalId),
    );
  }
  return view;
}

let artefacts: Promise<{ bundle: AppBundle; kmsActions: string }> | undefined;

/** The KMS bundle and constitution actions, freshly built by `deno task bundle`'s code. */
export function kmsArtefacts(): Promise<{ bundle: AppBundle; kmsActions: string }> {
  return artefacts ??= (async () => {
    const out = await Deno.makeTempDir();
    try {
      await buildBundle(out);
      return {
        bundle: JSON.parse(await Deno.readTextFile(join(out, "bundle.json"))) as AppBundle,
        kmsActions: await Deno.readTextFile(join(out, "constitution/kms_actions.js")),
      };
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  })();
}
