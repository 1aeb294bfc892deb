import assert from "node:assert/strict";
import {
  certId,
  type CoseSign1,
  parseGovMessage,
  verifyGovMessage,
} from "../../../ccf/gov/cose.ts";
import { workspaceMember } from "../../../scripts/kms/config.ts";
import { ServiceError } from "../../../ccf/gov/errors.ts";
import {
  createGovClient,
  type ProposalInfo,
  type Signer,
  type Transport,
} from "../../../ccf/gov/client.ts";
import type { Answer } from "../../../ccf/gov/http.ts";
import { createOutput } from "../../../scripts/kms/output.ts";
import {
  describeInfo,
  type GovSession,
  proposeAndVote,
  voteOn,
  withdrawProposal,
  workspaceLabels,
} from "../../../scripts/kms/voting.ts";
import { makeWorkspace } from "./_harness.ts";

const now = 1_700_000_123_456;
const url = "https://gov.test:8000";

/**
 * An in-memory stand-in for CCF's governance with the default constitution's majority `resolve`
 * (Accepted with more yes votes than half the members, else Open): it verifies every COSE body as
 * CCF does, refuses actions named `refuse` in `validate`, and fails to apply actions named
 * `explode`, answering 500 and recording nothing, as CCF does.
 */
const fakeGovernance = (members: readonly Signer[]) => {
  const certs = new Map(members.map((m) => [m.id, m.certPem]));
  const proposals = new Map<string, { info: ProposalInfo; votes: Map<string, boolean> }>();
  const requests: string[] = [];
  const json = (status: number, body: unknown): Answer => ({
    status,
    headers: new Headers({ "content-type": "application/json" }),
    text: JSON.stringify(body),
  });
  const error = (status: number, code: string, message: string) =>
    json(status, { error: { code, message } });
  const verified = (init: RequestInit, type: string): CoseSign1 | string => {
    if (new Headers(init.headers).get("content-type") !== "application/cose") return "content-type";
    const message = parseGovMessage(init.body as Uint8Array);
    if (typeof message === "string") return message;
    const cert = certs.get(message.headers.kid);
    if (!cert || !verifyGovMessage(message, cert)) return "signature";
    if (message.headers.msgType !== type) return "type";
    if (message.headers.createdAt !== Math.floor(now / 1000)) return "created_at";
    return message;
  };
  const resolve = (entry: { info: ProposalInfo; votes: Map<string, boolean> }): boolean => {
    const yes = [...entry.votes.values()].filter((v) => v).length;
    const accepted = yes > Math.floor(members.length / 2);
    entry.info = {
      ...entry.info,
      proposalState: accepted ? "Accepted" : "Open",
      ballotCount: entry.votes.size,
      ballotSubmitters: [...entry.votes.keys()],
      ...(accepted ? { finalVotes: Object.fromEntries(entry.votes) } : {}),
    };
    return accepted;
  };
  const bodies = new Map<string, string>();
  const transport: Transport = (target, init) => {
    const path = target.slice(url.length);
    requests.push(`${init.method} ${path}`);
    if (!path.endsWith("?api-version=2024-07-01")) {
      return Promise.resolve(error(400, "ApiVersion", "?"));
    }
    const route = path.replace("?api-version=2024-07-01", "");
    const text = (m: CoseSign1) => new TextDecoder().decode(m.payload);
    if (route === "/gov/members/proposals:create") {
      const m = verified(init, "proposal");
      if (typeof m === "string") return Promise.resolve(error(401, "Unauthorized", m));
      const body = text(m);
      if (body.includes('"refuse"')) {
        return Promise.resolve(
          error(400, "ProposalFailedToValidate", "Proposal failed to validate: refuse is refused"),
        );
      }
      const id = `p${proposals.size}`;
      const entry = {
        info: {
          proposalId: id,
          proposerId: m.headers.kid,
          proposalState: "Open",
          ballotCount: 0,
        } as ProposalInfo,
        votes: new Map<string, boolean>(),
      };
      proposals.set(id, entry);
      bodies.set(id, body);
      return Promise.resolve(json(200, entry.info));
    }
    const ballot = route.match(/^\/gov\/members\/proposals\/(\w+)\/ballots\/(\w+):submit$/);
    if (ballot) {
      const m = verified(init, "ballot");
      if (typeof m === "string") return Promise.resolve(error(401, "Unauthorized", m));
      const entry = proposals.get(ballot[1]);
      if (!entry || m.headers.proposalId !== ballot[1] || m.headers.kid !== ballot[2]) {
        return Promise.resolve(error(400, "BadBallot", "mismatch"));
      }
      if (entry.info.proposalState !== "Open") {
        return Promise.resolve(error(400, "ProposalNotOpen", "not open"));
      }
      const before = { info: entry.info, votes: new Map(entry.votes) };
      entry.votes.set(m.headers.kid, /return true/.test(JSON.parse(text(m)).ballot));
      if (resolve(entry) && bodies.get(ballot[1])!.includes('"explode"')) {
        Object.assign(entry, before);
        return Promise.resolve(
          error(
            500,
            "InternalError",
            "Failed to apply(): Error: apply blew up\nTrace:     at apply (constitution[0]:9:3)",
          ),
        );
      }
      return Promise.resolve(json(200, entry.info));
    }
    const withdraw = route.match(/^\/gov\/members\/proposals\/(\w+):withdraw$/);
    if (withdraw) {
      const m = verified(init, "withdrawal");
      if (typeof m === "string") return Promise.resolve(error(401, "Unauthorized", m));
      const entry = proposals.get(withdraw[1]);
      if (!entry) return Promise.resolve({ status: 204, headers: new Headers(), text: "" });
      if (m.headers.kid !== entry.info.proposerId) {
        return Promise.resolve(error(403, "Forbidden", "only the proposer may withdraw"));
      }
      entry.info = { ...entry.info, proposalState: "Withdrawn" };
      return Promise.resolve(json(200, entry.info));
    }
    const get = route.match(/^\/gov\/members\/proposals\/(\w+)$/);
    if (get && init.method === "GET") {
      const entry = proposals.get(get[1]);
      return Promise.resolve(
        entry ? json(200, entry.info) : error(404, "ProposalNotFound", get[1]),
      );
    }
    return Promise.resolve(error(404, "ResourceNotFound", route));
  };
  return { transport, requests };
};

const session = async (count: number) => {
  const { dir } = await makeWorkspace(count);
  const signers = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const files = workspaceMember(dir, i);
      const certPem = await Deno.readTextFile(files.certPath);
      return {
        label: files.label,
        id: certId(certPem),
        certPem,
        keyPem: await Deno.readTextFile(files.keyPath),
      };
    }),
  );
  const fake = fakeGovernance(signers);
  const stdout: string[] = [], stderr: string[] = [];
  const gov = createGovClient({
    url,
    serviceCertPem: "",
    clock: () => now,
    transport: fake.transport,
  });
  const s: GovSession = {
    gov,
    out: createOutput({ stdout: (l) => stdout.push(l), stderr: (l) => stderr.push(l) }),
    signerOf: (files) => Promise.resolve(signers[Number(files.label.replace("member", ""))]),
    labels: await workspaceLabels(dir),
  };
  const member = (i: number) => workspaceMember(dir, i);
  const cleanup = () => Deno.remove(dir, { recursive: true });
  return { s, member, stdout, stderr, requests: fake.requests, cleanup };
};

const proposal = { actions: [{ name: "set_settings_policy", args: {} }] };

Deno.test("flow: with three members, the proposer's vote leaves it open; voting with a majority accepts it", async () => {
  const t = await session(3);
  try {
    assert.equal(await proposeAndVote(t.s, proposal, t.member(0), [t.member(0)]), 0);
    assert.deepEqual(t.stdout, [
      "proposal p0",
      "state: Open",
      "proposer: member0",
      "ballots: 1 (member0)",
      "the proposal stays open until more members vote for it: deno task kms vote p0 --vote-with " +
      "<members>",
    ]);
    t.stdout.length = 0;
    assert.equal(await voteOn(t.s, "p0", [t.member(1), t.member(2)], true), 0);
    assert.equal(t.stdout[1], "state: Accepted");
    assert.match(t.stderr.join("\n"), /the proposal is Accepted: member2 does not vote/);
    const idOf = (label: string) => [...t.s.labels].find(([, l]) => l === label)![0];
    const ballot = (label: string) =>
      `POST /gov/members/proposals/p0/ballots/${idOf(label)}:submit?api-version=2024-07-01`;
    assert.deepEqual(t.requests, [
      "POST /gov/members/proposals:create?api-version=2024-07-01",
      ballot("member0"),
      "GET /gov/members/proposals/p0?api-version=2024-07-01",
      ballot("member1"),
    ]);
  } finally {
    await t.cleanup();
  }
});

Deno.test("flow: votes against leave it open, as CCF's default constitution does, and say how to close it", async () => {
  const t = await session(3);
  try {
    assert.equal(await proposeAndVote(t.s, proposal, t.member(0), [t.member(0)]), 0);
    t.stdout.length = 0;
    assert.equal(await voteOn(t.s, "p0", [t.member(1), t.member(2)], false), 0);
    assert.deepEqual(t.stdout.slice(1), [
      "state: Open",
      "proposer: member0",
      "ballots: 3 (member0, member1, member2)",
      "the proposal stays open until more members vote for it: deno task kms vote p0 --vote-with " +
      "<members>",
      "votes against do not reject a proposal (CCF's default constitution): it stays open until " +
      "a majority votes for it, or its proposer withdraws it: deno task kms withdraw p0",
    ]);
    assert.equal(await withdrawProposal(t.s, "p0", t.member(0)), 0);
  } finally {
    await t.cleanup();
  }
});

Deno.test("flow: withdrawal by the proposer; a refusal by validate and a failed apply reach the operator", async () => {
  const t = await session(3);
  try {
    await proposeAndVote(t.s, proposal, t.member(0), [t.member(0)]);
    t.stdout.length = 0;
    assert.equal(await withdrawProposal(t.s, "p0", t.member(0)), 0);
    assert.equal(t.stdout[1], "state: Withdrawn");
    await assert.rejects(
      withdrawProposal(t.s, "p9", t.member(0)),
      (e: unknown) => e instanceof ServiceError && e.message === "withdrawing p9: no such proposal",
    );
    await assert.rejects(
      proposeAndVote(t.s, { actions: [{ name: "refuse" }] }, t.member(0), [t.member(0)]),
      (e: unknown) => {
        assert.ok(e instanceof ServiceError);
        assert.equal(
          e.message,
          "the service refused the proposal: 400 ProposalFailedToValidate: Proposal failed to " +
            "validate: refuse is refused",
        );
        return true;
      },
    );
    t.stdout.length = 0;
    t.stderr.length = 0;
    const status = await proposeAndVote(
      t.s,
      { actions: [{ name: "explode" }] },
      t.member(0),
      [t.member(0), t.member(1), t.member(2)],
    );
    assert.equal(status, 1);
    // The deciding ballot was not recorded: the proposal is open with the proposer's ballot only.
    assert.deepEqual(t.stdout, [
      "proposal p1",
      "state: Open",
      "proposer: member0",
      "ballots: 1 (member0)",
    ]);
    assert.deepEqual(t.stderr.slice(-2), [
      "error: apply failed: Error: apply blew up; the proposal is still open (the ballot of " +
      "member1 was not recorded)",
      "once what apply needs is in place, vote again (deno task kms vote p1), or withdraw it " +
      "(deno task kms withdraw p1)",
    ]);
    assert.doesNotMatch(t.stderr.join("\n"), /member2 votes/);
  } finally {
    await t.cleanup();
  }
});

Deno.test("describeInfo: unknown members by id prefix, vote failures and dropped proposals", () => {
  const id = "ab".repeat(32);
  assert.deepEqual(
    describeInfo({
      proposalId: "p",
      proposerId: id,
      proposalState: "Dropped",
      ballotCount: 0,
      voteFailures: { [id]: { reason: "SyntaxError" } },
    }, new Map()),
    [
      "state: Dropped",
      `proposer: ${id.slice(0, 12)}…`,
      "ballots: 0",
      `ballot of ${id.slice(0, 12)}… failed: SyntaxError`,
      "reason: dropped by a change that invalidates open proposals (e.g. set_constitution)",
    ],
  );
});
