import assert from "node:assert/strict";
import { createGovernanceRoutes } from "../../../../ccf/sandbox/governance/routes.ts";
import type { NodeRequest, NodeResponse } from "../../../../ccf/sandbox/node/types.ts";
import {
  ballot,
  governedStore,
  type Member,
  newMember,
  proposal,
  signed,
  text,
} from "./_harness.ts";

const V = "api-version=2024-07-01";
const [m0, m1, m2] = await Promise.all(["member0", "member1", "member2"].map(newMember));

const setup = async () => {
  const { service } = await governedStore([m0, m1, m2]);
  const routes = createGovernanceRoutes(service, {
    transactions: { commitTxId: () => "2.7", status: () => "Pending" },
  });
  const call = async (
    method: string,
    target: string,
    body?: { headers: Record<string, string>; body: Uint8Array },
    // deno-lint-ignore no-explicit-any
  ): Promise<NodeResponse & { json: () => any }> => {
    const q = target.indexOf("?");
    const request: NodeRequest = {
      method,
      path: q < 0 ? target : target.slice(0, q),
      query: q < 0 ? "" : target.slice(q + 1),
      headers: body?.headers ?? {},
      body: body?.body ?? new Uint8Array(),
    };
    const response = await routes(request);
    return { ...response, json: () => JSON.parse(text(response.body)!) };
  };
  const post = (
    target: string,
    by: Member,
    payload: string,
    type: "proposal" | "ballot" | "withdrawal" | "state_digest" | "ack",
    id?: string,
  ) => call("POST", target, signed(by, payload, type, id));
  return { call, post };
};

Deno.test("routes: classic ballots and reads in snake_case, new reads in camelCase", async () => {
  const { call, post } = await setup();
  const created =
    (await post("/gov/proposals", m0, proposal({ name: "remove_js_app" }), "proposal"))
      .json();
  const id = created.proposal_id;
  assert.deepEqual(created, {
    proposal_id: id,
    proposer_id: m0.id,
    state: "Open",
    ballot_count: 0,
  });
  const voted = (await post(`/gov/proposals/${id}/ballots`, m1, ballot(true), "ballot", id)).json();
  assert.equal(voted.ballot_count, 1);
  const accepted = (await post(`/gov/proposals/${id}/ballots`, m2, ballot(true), "ballot", id))
    .json();
  assert.equal(accepted.state, "Accepted");
  assert.deepEqual(accepted.votes, { [m1.id]: true, [m2.id]: true });

  const classic = (await call("GET", `/gov/proposals/${id}`)).json();
  assert.deepEqual(Object.keys(classic.ballots).sort(), [m1.id, m2.id].sort());
  assert.equal(classic.final_votes[m1.id], true);
  assert.deepEqual((await call("GET", `/gov/proposals/${id}/ballots/${m1.id}`)).json(), {
    ballot: JSON.parse(ballot(true)).ballot,
  });
  const raw = await call("GET", `/gov/members/proposals/${id}/ballots/${m1.id}?${V}`);
  assert.equal(raw.headers["content-type"], "text/javascript");
  assert.match(text(raw.body)!, /export function vote/);
  assert.equal(
    (await call("GET", `/gov/members/proposals/${id}/ballots/${m0.id}?${V}`)).json().error.code,
    "VoteNotFound",
  );
  const listed = (await call("GET", `/gov/members/proposals?${V}`)).json();
  assert.deepEqual(listed.value.map((p: { proposalId: string }) => p.proposalId), [id]);
  assert.equal(listed.value[0].ballotCount, 2);
  assert.deepEqual(listed.value[0].finalVotes, { [m1.id]: true, [m2.id]: true });
});

Deno.test("routes: member activation over HTTP, new and classic", async () => {
  const { call, post } = await setup();
  const newcomer = await newMember("member3");
  const add = (await post(
    `/gov/members/proposals:create?${V}`,
    m0,
    proposal({ name: "set_member", args: { cert: newcomer.certPem, member_data: { n: 3 } } }),
    "proposal",
  )).json();
  for (const m of [m1, m2]) {
    await post(
      `/gov/members/proposals/${add.proposalId}/ballots/${m.id}:submit?${V}`,
      m,
      ballot(true),
      "ballot",
      add.proposalId,
    );
  }
  const before = (await call("GET", `/gov/service/members/${newcomer.id}?${V}`)).json();
  assert.deepEqual(
    { status: before.status, memberData: before.memberData, recoveryRole: before.recoveryRole },
    { status: "Accepted", memberData: { n: 3 }, recoveryRole: "NonParticipant" },
  );
  const digest = (await post(
    `/gov/members/state-digests/${newcomer.id}:update?${V}`,
    newcomer,
    "",
    "state_digest",
  )).json();
  assert.deepEqual(
    (await call("GET", `/gov/members/state-digests/${newcomer.id}?${V}`)).json(),
    digest,
  );
  const wrongUrl = await post(
    `/gov/members/state-digests/${m0.id}:ack?${V}`,
    newcomer,
    JSON.stringify(digest),
    "ack",
  );
  assert.equal(wrongUrl.status, 400);
  const acked = await post(
    `/gov/members/state-digests/${newcomer.id}:ack?${V}`,
    newcomer,
    JSON.stringify(digest),
    "ack",
  );
  assert.equal(acked.status, 204);
  assert.equal(
    (await call("GET", `/gov/service/members/${newcomer.id}?${V}`)).json().status,
    "Active",
  );

  // The classic pair, for another member that acks again (already Active: still 204).
  const classic = (await post("/gov/ack/update_state_digest", m1, "", "state_digest")).json();
  assert.match(classic.state_digest, /^[0-9a-f]{64}$/);
  assert.equal((await post("/gov/ack", m1, JSON.stringify(classic), "ack")).status, 204);
});

Deno.test("routes: service descriptions, transactions, path and version checks", async () => {
  const { call } = await setup();
  assert.deepEqual((await call("GET", `/gov/service/jwk?${V}`)).json(), {
    issuers: {},
    keys: {},
    caCertBundles: {},
  });
  assert.deepEqual((await call("GET", `/gov/service/javascript-app?${V}`)).json(), {
    endpoints: {},
  });
  assert.equal(
    (await call("GET", `/gov/service/javascript-app?${V}&case=upper`)).json().error.code,
    "InvalidQueryParameterValue",
  );
  assert.deepEqual((await call("GET", `/gov/service/users?${V}`)).json(), { value: [] });
  assert.equal((await call("GET", `/gov/service/info?${V}`)).status, 404);
  assert.deepEqual((await call("GET", `/gov/service/transactions/commit?${V}`)).json(), {
    transactionId: "2.7",
  });
  assert.deepEqual((await call("GET", `/gov/service/transactions/2.9?${V}`)).json(), {
    transactionId: "2.9",
    status: "Pending",
  });
  assert.equal(
    (await call("GET", `/gov/service/transactions/nine?${V}`)).json().error.code,
    "InvalidResourceName",
  );
  assert.equal(
    (await call("GET", `/gov/service/members/${"z".repeat(64)}?${V}`)).json().error.code,
    "InvalidResourceName",
  );
  assert.equal((await call("GET", `/gov/service/members/${"a".repeat(64)}?${V}`)).status, 404);
  const missing = (await call("GET", "/gov/members/proposals")).json();
  assert.equal(missing.error.code, "MissingApiVersionParameter");
  assert.match(missing.error.message, /2023-06-01-preview, 2024-07-01/);
  const verb = await call("PUT", `/gov/members/proposals:create?${V}`);
  assert.equal(verb.status, 405);
  assert.equal(verb.headers.allow, "POST");
  // A percent-encoded colon reaches the same endpoint.
  assert.equal((await call("POST", `/gov/members/proposals%3Acreate?${V}`)).status, 401);
});
