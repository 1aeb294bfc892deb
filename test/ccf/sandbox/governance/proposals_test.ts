import assert from "node:assert/strict";
import type { GovResult } from "../../../../ccf/sandbox/governance/errors.ts";
import { sharedEngine } from "../../../../ccf/sandbox/quickjs/engine.ts";
import {
  entries,
  readConstitution,
  writeConstitution,
} from "../../../../ccf/sandbox/governance/tables.ts";
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
  nodeClock,
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

Deno.test("proposals: votes against never reject; it stays Open until a majority votes for it", async () => {
  const { store, service } = await governedStore(trio);
  const { user, body } = await addUser();
  // Every member against: CCF's default constitution leaves it Open, with no final votes.
  const view = decide(service, m0, body, trio, false);
  assert.equal(view.info.state, "Open");
  assert.equal(view.info.final_votes, undefined);
  assert.deepEqual(Object.keys(view.info.ballots).sort(), trio.map((m) => m.id).sort());
  assert.equal(store.get(usersCerts, utf8(user.id)), undefined);
  const withdrawn = expectOk(
    service.withdraw(signed(m0, "", "withdrawal", view.proposalId), view.proposalId),
  );
  assert.equal(withdrawn!.info.state, "Withdrawn");
});

Deno.test("proposals: as in CCF, the yes vote of a member removed since still counts", async () => {
  const { store, service } = await governedStore(trio);
  const { user, body } = await addUser();
  const id = expectOk(service.create(signed(m0, body, "proposal"))).proposalId;
  expectOk(service.submitBallot(signed(m2, ballot(true), "ballot", id), id));
  const removal = decide(
    service,
    m0,
    proposal({ name: "remove_member", args: { member_id: m2.id } }),
    [m0, m1],
  );
  assert.equal(removal.info.state, "Accepted");
  // Two Active members now: m0's yes and m2's recorded yes make two, more than half of two.
  const last = expectOk(service.submitBallot(signed(m0, ballot(true), "ballot", id), id));
  assert.equal(last.info.state, "Accepted");
  assert.deepEqual(last.info.final_votes, { [m0.id]: true, [m2.id]: true });
  assert.equal(text(store.get(usersCerts, utf8(user.id))), user.certPem);
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
  const earlier = Math.floor(nodeClock() / 1000) - 60;
  expectError(
    service.create(signed(m0, body, "proposal", undefined, earlier)),
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

Deno.test("proposals: created_at far ahead of or behind the node's clock is refused; governance goes on", async () => {
  const { store, service } = await governedStore(trio);
  const { body } = await addUser();
  const now = Math.floor(nodeClock() / 1000);
  const before = store.lastSeqno;
  const future = expectError(
    service.create(signed(m0, body, "proposal", undefined, now + 10 * 365 * 86_400)),
    400,
    "InvalidCreatedAt",
    /is 315360000 s ahead of the node's clock .*from 3600 s before to 60 s after its clock/,
  );
  assert.match(future.message, /sign with the current time/);
  expectError(
    service.create(signed(m0, body, "proposal", undefined, now - 2 * 3600)),
    400,
    "InvalidCreatedAt",
    /is 7200 s behind the node's clock/,
  );
  assert.equal(store.lastSeqno, before);
  // An honestly dated proposal is not held back by the refused one (CCF's median check would be).
  const id = expectOk(service.create(signed(m0, body, "proposal", undefined, now))).proposalId;
  // Ballots and withdrawals are bounded the same way.
  expectError(
    service.submitBallot(signed(m1, ballot(true), "ballot", id, now + 3600), id),
    400,
    "InvalidCreatedAt",
  );
  expectError(
    service.withdraw(signed(m0, "", "withdrawal", id, now - 7200), id),
    400,
    "InvalidCreatedAt",
  );
  // Within the window's edges everything goes through.
  const edge = expectOk(service.submitBallot(signed(m1, ballot(true), "ballot", id, now + 60), id));
  assert.equal(edge.info.state, "Open");
  const late = expectOk(service.withdraw(signed(m0, "", "withdrawal", id, now - 3600), id));
  assert.equal(late!.info.state, "Withdrawn");
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

Deno.test("proposals: an apply that throws answers 500 and records nothing; the proposal stays Open", async () => {
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
  const body = proposal({ name: "set_js_app", args: { bundle: broken } });
  const id = expectOk(service.create(signed(m0, body, "proposal"))).proposalId;
  expectOk(service.submitBallot(signed(m0, ballot(true), "ballot", id), id));
  const before = store.lastSeqno;
  const error = expectError(
    service.submitBallot(signed(m1, ballot(true), "ballot", id), id),
    500,
    "InternalError",
    /^Failed to apply\(\): Error: Failed to compile module '\/x\.js': SyntaxError.*\nTrace: /s,
  );
  assert.doesNotMatch(error.message, /Trace: N\/A/);
  // The whole transaction is discarded: no module, no ballot, the proposal as it was.
  assert.equal(store.lastSeqno, before);
  assert.equal(store.get(modules, utf8("/x.js")), undefined);
  const stored = JSON.parse(text(store.get(proposalsInfo, utf8(id)))!);
  assert.equal(stored.state, "Open");
  assert.deepEqual(Object.keys(stored.ballots), [m0.id]);
  assert.equal(stored.failure, undefined);
  // It still takes ballots (each one fails the same way) and can be withdrawn.
  expectError(
    service.submitBallot(signed(m2, ballot(true), "ballot", id), id),
    500,
    "InternalError",
  );
  const withdrawn = expectOk(service.withdraw(signed(m0, "", "withdrawal", id), id));
  assert.equal(withdrawn!.info.state, "Withdrawn");
});

Deno.test("proposals: set_js_app fails at apply for a module with syntax newer than CCF's QuickJS", async () => {
  const { store, service } = await governedStore(trio);
  const endpoint = {
    js_module: "x.js",
    js_function: "x",
    mode: "readonly",
    forwarding_required: "never",
    authn_policies: [],
  };
  // The v flag came to QuickJS after 2024-01-13: this engine compiles it, CCF's does not.
  const bundle = {
    metadata: { endpoints: { "/x": { get: endpoint } } },
    modules: [{ name: "x.js", module: "export const x = () => /[\\p{L}--[a-z]]/v;" }],
  };
  const body = proposal({ name: "set_js_app", args: { bundle } });
  const id = expectOk(service.create(signed(m0, body, "proposal"))).proposalId;
  expectOk(service.submitBallot(signed(m0, ballot(true), "ballot", id), id));
  const before = store.lastSeqno;
  expectError(
    service.submitBallot(signed(m1, ballot(true), "ballot", id), id),
    500,
    "InternalError",
    /Failed to compile module '\/x\.js': SyntaxError: .*syntax newer than CCF's QuickJS/,
  );
  assert.equal(store.lastSeqno, before);
  assert.equal(store.get(modules, utf8("/x.js")), undefined);
});

Deno.test("proposals: a failing resolve, a bad state from it, or an apply failing at creation record nothing", async () => {
  const { store, service } = await governedStore(trio);
  const use = (resolve: string, apply: string) => {
    const tx = store.begin();
    writeConstitution(
      tx,
      'export function validate() { return { valid: true, description: "" }; }\n' +
        `export function resolve() { ${resolve} }\nexport function apply() { ${apply} }\n`,
    );
    store.commit(tx);
  };
  const { body } = await addUser();
  const attempt = (message: RegExp) => {
    const before = store.lastSeqno;
    const request = signed(m0, body, "proposal");
    expectError(service.create(request), 500, "InternalError", message);
    assert.equal(store.lastSeqno, before);
    assert.deepEqual([...entries(store.begin(), proposals)], []);
    return request;
  };
  use('throw new Error("cannot decide");', "");
  attempt(/^Failed to resolve\(\): Error: cannot decide\nTrace: /);
  use('return "Maybe";', "");
  attempt(/^resolve\(\) returned invalid status value: "Maybe"\nTrace: N\/A$/);
  use('return "Accepted";', 'throw new Error("no");');
  const request = attempt(/^Failed to apply\(\): Error: no\nTrace: /);
  // Not even the replay window saw it: the same request fails the same way, not as a replay.
  expectError(service.create(request), 500, "InternalError", /Failed to apply/);
});

Deno.test("proposals: too deep or too many actions is a 400 before the constitution runs, state unchanged", async () => {
  const { store, service } = await governedStore(trio);
  const before = store.lastSeqno;
  const nested = (depth: number) =>
    `{"actions":[{"name":"set_user_data","args":{"user_id":"${"a".repeat(64)}",` +
    `"user_data":${"[".repeat(depth)}${"]".repeat(depth)}}}]}`;
  // The proposal's own object, its actions array, the action and its args are 4 levels.
  expectError(
    service.create(signed(m0, nested(100_000), "proposal")),
    400,
    "InvalidInput",
    /more than 64 levels deep, the sandbox's limit/,
  );
  expectError(service.create(signed(m0, nested(61), "proposal")), 400, "InvalidInput");
  const many = (n: number) =>
    proposal(
      ...Array.from({ length: n }, () => ({ name: "remove_ca_cert_bundle", args: { name: "b" } })),
    );
  expectError(
    service.create(signed(m0, many(20_000), "proposal")),
    400,
    "InvalidInput",
    /has 20000 actions; the sandbox accepts at most 100 in one proposal/,
  );
  assert.equal(store.lastSeqno, before);
  expectOk(service.create(signed(m0, nested(60), "proposal")));
  const id = expectOk(service.create(signed(m0, many(100), "proposal"))).proposalId;
  expectOk(service.submitBallot(signed(m0, ballot(true), "ballot", id), id));
  const applied = expectOk(service.submitBallot(signed(m1, ballot(true), "ballot", id), id));
  assert.equal(applied.info.state, "Accepted");
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
