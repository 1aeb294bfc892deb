import assert from "node:assert/strict";
import type { GovResult } from "../../../../ccf/sandbox/governance/errors.ts";
import { sharedEngine } from "../../../../ccf/sandbox/quickjs/engine.ts";
import { readConstitution } from "../../../../ccf/sandbox/governance/tables.ts";
import {
  jsRuntimeOptions,
  membersInfo,
  modules,
  proposals,
  proposalsInfo,
  singletonKey,
  usersCerts,
} from "../../../../ccf/sandbox/govTables.ts";
import {
  ballot,
  decide,
  expectOk,
  governedStore,
  type Member,
  newMember,
  nextCreatedAt,
  proposal,
  signed,
  text,
  utf8,
} from "./_harness.ts";

const [m0, m1, m2, outsider] = await Promise.all(
  ["member0", "member1", "member2", "outsider"].map(newMember),
);
const trio = [m0, m1, m2];

const expectError = <T>(result: GovResult<T>, status: number, code: string, message?: RegExp) => {
  assert.ok(!result.ok, `expected ${status} ${code}, got ${JSON.stringify(result)}`);
  assert.equal(result.error.status, status);
  assert.equal(result.error.code, code);
  if (message) assert.match(result.error.message, message);
  return result.error;
};

const authFailure = <T>(result: GovResult<T>, reason: RegExp) => {
  const error = expectError(result, 401, "InvalidAuthenticationInfo");
  assert.match(String(error.details?.[0]?.message), reason);
};

const addUser = async () => {
  const user = await newMember("user");
  return { user, body: proposal({ name: "set_user", args: { cert: user.certPem } }) };
};

Deno.test("proposals: Open on creation, Accepted and applied with 2 of 3 votes", async () => {
  const { store, service } = await governedStore(trio);
  const { user, body } = await addUser();
  const created = expectOk(service.create(signed(m0, body, "proposal")));
  assert.match(created.proposalId, /^[0-9a-f]{64}$/);
  assert.deepEqual(created.info, { proposer_id: m0.id, state: "Open", ballots: {} });
  assert.equal(text(store.get(proposals, utf8(created.proposalId))), body);

  const id = created.proposalId;
  const first = expectOk(service.submitBallot(signed(m1, ballot(true), "ballot", id), id));
  assert.equal(first.info.state, "Open");
  assert.equal(store.get(usersCerts, utf8(user.id)), undefined);
  const second = expectOk(service.submitBallot(signed(m2, ballot(true), "ballot", id), id, m2.id));
  assert.equal(second.info.state, "Accepted");
  assert.deepEqual(second.info.final_votes, { [m1.id]: true, [m2.id]: true });
  assert.deepEqual(second.info.vote_failures, {});
  assert.equal(text(store.get(usersCerts, utf8(user.id))), user.certPem);

  const late = service.submitBallot(signed(m0, ballot(true), "ballot", id), id);
  expectError(late, 400, "ProposalNotOpen", /currently in state Accepted/);
});

Deno.test("proposals: Rejected once the no votes make a majority impossible", async () => {
  const { store, service } = await governedStore(trio);
  const { user, body } = await addUser();
  const view = decide(service, m0, body, [m0, m1], false);
  assert.equal(view.info.state, "Rejected");
  assert.deepEqual(view.info.final_votes, { [m0.id]: false, [m1.id]: false });
  assert.equal(store.get(usersCerts, utf8(user.id)), undefined);
  // One no vote out of three still leaves a majority possible.
  const open = decide(service, m0, body, [m1], false);
  assert.equal(open.info.state, "Open");
});

Deno.test("proposals: ballots are re-run on every vote; failures and the raw proposal", async () => {
  const { service } = await governedStore(trio);
  const { body } = await addUser();
  const id = expectOk(service.create(signed(m0, body, "proposal"))).proposalId;
  const throwing = JSON.stringify({ ballot: "export function vote() { throw new Error('no'); }" });
  const picky = JSON.stringify({
    ballot: `export function vote(proposal, proposerId) {
      return JSON.parse(proposal).actions[0].name === "set_user" && proposerId === "${m0.id}";
    }`,
  });
  expectOk(service.submitBallot(signed(m1, throwing, "ballot", id), id));
  const view = expectOk(service.submitBallot(signed(m2, picky, "ballot", id), id));
  assert.equal(view.info.state, "Open");
  const last = expectOk(service.submitBallot(signed(m0, ballot(true), "ballot", id), id));
  assert.equal(last.info.state, "Accepted");
  assert.deepEqual(last.info.final_votes, { [m0.id]: true, [m2.id]: true });
  const failure = last.info.vote_failures![m1.id] as { reason: string };
  assert.match(failure.reason, /Error: no/);
});

Deno.test("proposals: the same ballot again is idempotent, a different one is refused", async () => {
  const { store, service } = await governedStore(trio);
  const { body } = await addUser();
  const id = expectOk(service.create(signed(m0, body, "proposal"))).proposalId;
  expectOk(service.submitBallot(signed(m1, ballot(true), "ballot", id), id));
  const before = store.lastSeqno;
  const again = expectOk(service.submitBallot(signed(m1, ballot(true), "ballot", id), id));
  assert.equal(again.info.state, "Open");
  assert.equal(store.lastSeqno, before);
  expectError(
    service.submitBallot(signed(m1, ballot(false), "ballot", id), id),
    400,
    "VoteAlreadyExists",
  );
  expectError(
    service.submitBallot(signed(m1, "{}", "ballot", id), id),
    400,
    "InvalidInput",
    /required string field "ballot"/,
  );
  expectError(
    service.submitBallot(signed(m2, ballot(true), "ballot", id), id, m1.id),
    400,
    "InvalidResourceName",
    /member id does not match URL/,
  );
  const otherId = "0".repeat(64);
  expectError(
    service.submitBallot(signed(m2, ballot(true), "ballot", otherId), id),
    400,
    "InvalidResourceName",
    /proposal id does not match URL/,
  );
  expectError(
    service.submitBallot(signed(m2, ballot(true), "ballot", otherId), otherId),
    404,
    "ProposalNotFound",
  );
});

Deno.test("proposals: withdrawal only by the proposer and only while Open", async () => {
  const { service } = await governedStore(trio);
  const { body } = await addUser();
  const id = expectOk(service.create(signed(m0, body, "proposal"))).proposalId;
  expectError(
    service.withdraw(signed(m1, "", "withdrawal", id), id),
    403,
    "AuthorizationFailed",
    /can only be withdrawn by proposer/,
  );
  const withdrawn = expectOk(service.withdraw(signed(m0, "", "withdrawal", id), id));
  assert.equal(withdrawn!.info.state, "Withdrawn");
  assert.equal(
    expectOk(service.withdraw(signed(m0, "", "withdrawal", id), id))!.info.state,
    "Withdrawn",
  );
  expectError(
    service.submitBallot(signed(m1, ballot(true), "ballot", id), id),
    400,
    "ProposalNotOpen",
  );
  const unknown = "f".repeat(64);
  assert.equal(expectOk(service.withdraw(signed(m0, "", "withdrawal", unknown), unknown)), null);

  const accepted = decide(service, m0, (await addUser()).body, [m0, m1]);
  expectError(
    service.withdraw(signed(m0, "", "withdrawal", accepted.proposalId), accepted.proposalId),
    400,
    "ProposalNotOpen",
    /cannot be withdrawn/,
  );
});

Deno.test("proposals: a replayed submission and one older than the recent median are refused", async () => {
  const { service } = await governedStore(trio);
  const { body } = await addUser();
  const request = signed(m0, body, "proposal");
  const first = expectOk(service.create(request));
  expectError(
    service.create(request),
    400,
    "ProposalReplay",
    new RegExp(`already exists as proposal ${first.proposalId}`),
  );
  for (let i = 0; i < 4; i++) expectOk(service.create(signed(m0, body, "proposal")));
  expectError(
    service.create(signed(m0, body, "proposal", undefined, 1_000)),
    400,
    "ProposalCreatedTooLongAgo",
    /created_at must be greater than 17/,
  );
  expectError(
    service.create(signed(m0, body, "proposal", undefined, 10_000_000_000)),
    400,
    "InvalidCreatedAt",
  );
});

Deno.test("proposals: signatures, signers and message types are checked", async () => {
  const { service } = await governedStore(trio);
  const { body } = await addUser();
  const good = signed(m0, body, "proposal");
  const tampered = good.body.slice();
  tampered[tampered.length - 5] ^= 1;
  authFailure(service.create({ ...good, body: tampered }), /Failed to validate COSE Sign1/);
  authFailure(service.create(signed(outsider, body, "proposal")), /Signer is not a known member/);
  authFailure(
    service.create(signed(m0, body, "ballot")),
    /expected ccf\.gov\.msg\.type to be proposal/,
  );
  authFailure(
    service.create({ headers: { "content-type": "application/json" }, body: utf8(body) }),
    /Content type is not set to application\/cose/,
  );
  authFailure(
    service.create({ ...good, body: utf8("garbage") }),
    /Failed to decode COSE_Sign1/,
  );
  const refusal = service.create(signed(outsider, body, "proposal"));
  assert.ok(!refusal.ok);
  assert.equal(
    refusal.error.headers?.["www-authenticate"],
    'COSE-SIGN1 realm="Signed request access"',
  );
});

Deno.test("proposals: a removed member can no longer propose or vote", async () => {
  const { service } = await governedStore(trio);
  const pending = expectOk(service.create(signed(m2, (await addUser()).body, "proposal")));
  const removal = decide(
    service,
    m0,
    proposal({ name: "remove_member", args: { member_id: m2.id } }),
    [m0, m1],
  );
  assert.equal(removal.info.state, "Accepted");
  authFailure(
    service.create(signed(m2, (await addUser()).body, "proposal")),
    /Signer is not a known member/,
  );
  authFailure(
    service.submitBallot(
      signed(m2, ballot(true), "ballot", pending.proposalId),
      pending.proposalId,
    ),
    /Signer is not a known member/,
  );
  // Two members remain: one yes is not a majority of two, two are.
  const id = pending.proposalId;
  assert.equal(
    expectOk(service.submitBallot(signed(m0, ballot(true), "ballot", id), id)).info.state,
    "Open",
  );
  assert.equal(
    expectOk(service.submitBallot(signed(m1, ballot(true), "ballot", id), id)).info.state,
    "Accepted",
  );
});

Deno.test("proposals: validate's refusal is a 400 with its reason, nothing recorded", async () => {
  const { store, service } = await governedStore(trio);
  const before = store.lastSeqno;
  const bad = proposal({ name: "set_user", args: { cert: "nope" } }, { name: "fly" });
  expectError(
    service.create(signed(m0, bad, "proposal")),
    400,
    "ProposalFailedToValidate",
    /^Proposal failed to validate: set_user at position 0 failed validation: Error: cert must be one or more valid X509 certificates in PEM format, fly: no such action$/,
  );
  assert.equal(store.lastSeqno, before);
});

Deno.test("proposals: an apply that throws leaves the proposal Failed, without its writes", async () => {
  const { store, service } = await governedStore(trio);
  const broken = {
    metadata: {
      endpoints: {
        "/x": {
          get: {
            js_module: "x.js",
            js_function: "x",
            mode: "readonly",
            forwarding_required: "never",
            authn_policies: [],
          },
        },
      },
    },
    modules: [{ name: "x.js", module: "export function x( {" }],
  };
  const view = decide(service, m0, proposal({ name: "set_js_app", args: { bundle: broken } }), [
    m0,
    m1,
  ]);
  assert.equal(view.info.state, "Failed");
  assert.match(
    view.info.failure!.reason,
    /^Failed to apply\(\): Error: Failed to compile module '\/x\.js': SyntaxError/,
  );
  assert.equal(store.get(modules, utf8("/x.js")), undefined);
  const stored = JSON.parse(text(store.get(proposalsInfo, utf8(view.proposalId)))!);
  assert.equal(stored.state, "Failed");
  assert.deepEqual(Object.keys(stored.ballots).sort(), [m0.id, m1.id].sort());
});

Deno.test("proposals: set_constitution drops the other Open proposals; closing one clears old ones", async () => {
  const { store, service } = await governedStore(trio);
  const first = decide(service, m0, (await addUser()).body, [m0, m1]);
  assert.equal(first.info.state, "Accepted");
  const open = expectOk(service.create(signed(m1, (await addUser()).body, "proposal")));
  const current = readConstitution(store.begin())!;
  const change = decide(
    service,
    m0,
    proposal({ name: "set_constitution", args: { constitution: `${current}\n// v2\n` } }),
    [m0, m2],
  );
  assert.equal(change.info.state, "Accepted");
  assert.ok(readConstitution(store.begin())!.endsWith("// v2\n"));
  const dropped = JSON.parse(text(store.get(proposalsInfo, utf8(open.proposalId)))!);
  assert.equal(dropped.state, "Dropped");
  // CCF keeps one closed proposal in the tables: the first one is gone now.
  assert.equal(store.get(proposalsInfo, utf8(first.proposalId)), undefined);
  assert.equal(store.get(proposals, utf8(first.proposalId)), undefined);
});

Deno.test("members: a new member is Accepted until it acknowledges the state digest", async () => {
  const { store, service } = await governedStore(trio);
  const newcomer: Member = await newMember("member3");
  const added = decide(
    service,
    m0,
    proposal({ name: "set_member", args: { cert: newcomer.certPem } }),
    [m0, m1],
  );
  assert.equal(added.info.state, "Accepted");
  authFailure(
    service.create(signed(newcomer, (await addUser()).body, "proposal")),
    /Signer is not an ACTIVE member/,
  );
  const digest = expectOk(
    service.updateStateDigest(signed(newcomer, "", "state_digest"), newcomer.id),
  );
  assert.equal(digest.memberId, newcomer.id);
  assert.match(digest.stateDigest, /^[0-9a-f]{64}$/);
  expectError(
    service.ack(signed(newcomer, JSON.stringify({ stateDigest: "00" }), "ack")),
    400,
    "StateDigestMismatch",
  );
  expectOk(service.ack(signed(newcomer, JSON.stringify(digest), "ack"), newcomer.id));
  assert.equal(JSON.parse(text(store.get(membersInfo, utf8(newcomer.id)))!).status, "Active");
  // Four Active members: a majority is three.
  const view = decide(service, newcomer, (await addUser()).body, [newcomer, m0]);
  assert.equal(view.info.state, "Open");
  authFailure(service.ack(signed(outsider, "{}", "ack")), /Signer is not a known member/);
  assert.ok(nextCreatedAt() > 0);
});

Deno.test("proposals: a ballot that breaks the QuickJS instance is a vote failure; voting goes on", async () => {
  const { service, store } = await governedStore(trio);
  // Time enough to reach the host's stack limit on a loaded machine, not the 1 s default first.
  const options = store.begin();
  options.set(
    jsRuntimeOptions,
    singletonKey,
    utf8(JSON.stringify({ max_execution_time_ms: 60_000 })),
  );
  store.commit(options);
  const { body } = await addUser();
  const id = expectOk(service.create(signed(m0, body, "proposal"))).proposalId;
  // Deep enough to exhaust the host's stack inside QuickJS, which its own limit does not catch.
  const crashing = JSON.stringify({
    ballot: "export function vote() { let o = {}; for (let i = 0; i < 1e6; i++) o = { o }; " +
      "return JSON.stringify(o).length > 0; }",
  });
  expectOk(service.submitBallot(signed(m1, crashing, "ballot", id), id));
  await service.ready();
  const view = expectOk(service.submitBallot(signed(m2, ballot(true), "ballot", id), id));
  assert.equal(view.info.state, "Open");
  const last = expectOk(service.submitBallot(signed(m0, ballot(true), "ballot", id), id));
  assert.equal(last.info.state, "Accepted");
  const failure = last.info.vote_failures![m1.id] as { reason: string };
  assert.match(failure.reason, /QuickJS engine failure/);
  await (await sharedEngine()).ready();
});
