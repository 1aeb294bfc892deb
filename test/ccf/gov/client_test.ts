import assert from "node:assert/strict";
import { type CoseSign1, parseGovMessage, verifyGovMessage } from "../../../ccf/gov/cose.ts";
import { ConstitutionFailure, ServiceError } from "../../../ccf/gov/errors.ts";
import {
  ballotFor,
  createGovClient,
  govPaths,
  signedMessage,
  type Signer,
} from "../../../ccf/gov/client.ts";
import { newMember } from "./_harness.ts";

const now = 1_700_000_123_456;

const signerOf = async (name: string): Promise<Signer> => ({
  label: name,
  ...await newMember(name),
});

Deno.test("COSE bodies: proposals, ballots and withdrawals verify with the member's certificate", async () => {
  const member = await signerOf("member0");
  const other = await signerOf("member1");
  const proposal = JSON.stringify({ actions: [{ name: "set_settings_policy", args: {} }] });
  const cases = [
    { body: proposal, type: "proposal", id: undefined },
    { body: ballotFor(true), type: "ballot", id: "p1" },
    { body: "", type: "withdrawal", id: "p1" },
  ] as const;
  for (const { body, type, id } of cases) {
    const bytes = signedMessage(body, member, type, now, id);
    const parsed = parseGovMessage(bytes) as CoseSign1;
    assert.equal(typeof parsed, "object", `${type} parses`);
    assert.deepEqual(parsed.headers, {
      alg: -35, // ES384: the sandbox's members have P-384 keys
      kid: member.id,
      msgType: type,
      createdAt: Math.floor(now / 1000),
      ...(id === undefined ? {} : { proposalId: id }),
    });
    assert.equal(new TextDecoder().decode(parsed.payload), body);
    assert.ok(verifyGovMessage(parsed, member.certPem), `${type} verifies`);
    assert.equal(verifyGovMessage(parsed, other.certPem), false);
  }
});

Deno.test("ballots: a constitution-style vote function returning the member's choice", () => {
  assert.deepEqual(JSON.parse(ballotFor(true)), {
    ballot: "export function vote (proposal, proposerId) { return true }",
  });
  assert.match(JSON.parse(ballotFor(false)).ballot, /return false }$/);
});

Deno.test("paths: the 2024-07-01 routes, with proposal ids checked before they reach a URL", () => {
  assert.equal(govPaths.create(), "/gov/members/proposals:create?api-version=2024-07-01");
  assert.equal(govPaths.proposal("ab12"), "/gov/members/proposals/ab12?api-version=2024-07-01");
  assert.equal(
    govPaths.ballot("ab12", "m0"),
    "/gov/members/proposals/ab12/ballots/m0:submit?api-version=2024-07-01",
  );
  assert.equal(
    govPaths.withdraw("ab12"),
    "/gov/members/proposals/ab12:withdraw?api-version=2024-07-01",
  );
  assert.equal(govPaths.constitution(), "/gov/service/constitution?api-version=2024-07-01");
  for (const id of ["../x", "a/b", "a?b", "", ".", ".."]) {
    assert.throws(() => govPaths.proposal(id), ServiceError);
  }
});

Deno.test("failures of apply and resolve: CCF's 500 becomes a ConstitutionFailure saying what was kept", async () => {
  const member = await signerOf("member0");
  let message = "";
  const gov = createGovClient({
    url: "https://gov.test",
    serviceCertPem: "",
    clock: () => now,
    transport: () =>
      Promise.resolve({
        status: 500,
        headers: new Headers({ "content-type": "application/json" }),
        text: JSON.stringify({ error: { code: "InternalError", message } }),
      }),
  });
  const failure = async (call: () => Promise<unknown>) => {
    const e = await call().then(() => undefined, (e: unknown) => e);
    assert.ok(e instanceof ConstitutionFailure, String(e));
    return e;
  };
  message = "Failed to apply(): Error: issuer x not found\nTrace:     at apply (c[0]:1:2)";
  const ballot = await failure(() => gov.submitBallot("p1", ballotFor(true), member));
  assert.equal(ballot.stage, "apply");
  assert.equal(ballot.reason, "Error: issuer x not found");
  assert.equal(
    ballot.message,
    "apply failed: Error: issuer x not found; the proposal is still open (the ballot of member0 " +
      "was not recorded)",
  );
  message = 'resolve() returned invalid status value: "Maybe"\nTrace: N/A';
  const created = await failure(() => gov.createProposal("{}", member));
  assert.equal(
    created.message,
    'resolve failed: resolve() returned invalid status value: "Maybe"; the proposal was not recorded',
  );
  // Any other 500 stays an ordinary ServiceError.
  message = "Failed to execute validation: InternalError: stack overflow";
  const other = await gov.createProposal("{}", member).catch((e: unknown) => e);
  assert.ok(other instanceof ServiceError && !(other instanceof ConstitutionFailure));
});
