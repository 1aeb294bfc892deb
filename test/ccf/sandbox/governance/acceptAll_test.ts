/**
 * `acceptAllProposals`: the mode of CCF's own `sandbox.sh`, where a proposal is Accepted and
 * applied when it is proposed, without a ballot; and the default, where it stays Open until a
 * majority votes for it. Over HTTPS, as tools written for `sandbox.sh` call it.
 */
import assert from "node:assert/strict";
import { signGovMessage } from "../../../../ccf/gov/cose.ts";
import {
  ACCEPT_ALL_CONSTITUTION,
  DEFAULT_CONSTITUTION,
  governanceGenesisWrites,
  installGovernance,
} from "../../../../ccf/sandbox/governance/mod.ts";
import { type RunningSandbox, startSandbox } from "../../../../ccf/sandbox/node/mod.ts";
import { newMember, nextCreatedAt, nodeClock, proposal } from "./_harness.ts";

const V = "api-version=2024-07-01";

/** Starts a sandbox with governance installed with `acceptAllProposals`, runs `fn`, stops it. */
const withSandbox = async (
  acceptAllProposals: boolean,
  fn: (sandbox: RunningSandbox, client: Deno.HttpClient) => Promise<void>,
) => {
  const dir = await Deno.makeTempDir({ prefix: "sandbox-accept-all-" });
  const sandbox = await startSandbox({
    workspace: dir,
    port: 0,
    members: 3,
    users: 0,
    signatureIntervalMs: 0,
    genesisWrites: governanceGenesisWrites,
    log: () => {},
  });
  const http = Deno.createHttpClient({ caCerts: [sandbox.node.serviceCertPem] });
  try {
    await installGovernance(sandbox.node, { acceptAllProposals, clock: nodeClock });
    await fn(sandbox, http);
  } finally {
    http.close();
    await sandbox.stop();
    await Deno.remove(dir, { recursive: true });
  }
};

const get = (sandbox: RunningSandbox, client: Deno.HttpClient, path: string) =>
  fetch(`${sandbox.server.url}${path}?${V}`, { client });

/** Proposes `set_user` for a new user as the first member, and casts no ballot. */
const proposeUser = async (sandbox: RunningSandbox, client: Deno.HttpClient) => {
  const member = sandbox.node.workspace.members[0];
  const signer = { ...member, keyPem: await Deno.readTextFile(member.keyPath) };
  const user = await newMember("tool-user");
  const body = signGovMessage(
    new TextEncoder().encode(proposal({ name: "set_user", args: { cert: user.certPem } })),
    signer,
    "proposal",
    nextCreatedAt(),
  );
  const response = await fetch(`${sandbox.server.url}/gov/members/proposals:create?${V}`, {
    method: "POST",
    headers: { "content-type": "application/cose" },
    body: new Uint8Array(body),
    client,
  });
  const created = await response.json();
  assert.equal(response.status, 200, JSON.stringify(created));
  return { state: created.proposalState as string, userId: user.id };
};

const userExists = async (sandbox: RunningSandbox, client: Deno.HttpClient, id: string) => {
  const response = await get(sandbox, client, `/gov/service/users/${id}`);
  await response.body?.cancel();
  return response.status === 200;
};

const constitution = async (sandbox: RunningSandbox, client: Deno.HttpClient) =>
  await (await get(sandbox, client, "/gov/service/constitution")).text();

for (const acceptAll of [true, false]) {
  const mode = acceptAll ? "with acceptAllProposals" : "by default";
  Deno.test(`accept-all mode: ${mode}, a proposal without a ballot is ${acceptAll ? "Accepted and applied" : "left Open"}`, async () => {
    await withSandbox(acceptAll, async (sandbox, client) => {
      const expected = acceptAll ? ACCEPT_ALL_CONSTITUTION : DEFAULT_CONSTITUTION;
      assert.equal(await constitution(sandbox, client), expected);
      const { state, userId } = await proposeUser(sandbox, client);
      assert.equal(state, acceptAll ? "Accepted" : "Open");
      assert.equal(await userExists(sandbox, client, userId), acceptAll);
    });
  });
}

Deno.test("accept-all mode: installing governance again switches between the built-in constitutions", async () => {
  await withSandbox(true, async (sandbox, client) => {
    await installGovernance(sandbox.node, { clock: nodeClock });
    assert.equal(await constitution(sandbox, client), DEFAULT_CONSTITUTION);
    assert.equal((await proposeUser(sandbox, client)).state, "Open");
  });
});
