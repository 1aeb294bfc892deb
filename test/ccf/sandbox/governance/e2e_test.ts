/**
 * Governance end to end over HTTPS: a sandbox node with governance installed, the KMS deployed by
 * a real `set_js_app` proposal, its actions appended with `set_constitution`, a key release policy
 * set through a proposal and read back from the app, and a JWT issuer trusted by proposal and then
 * accepted by `/app/auth`.
 */
import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { signGovMessage } from "../../../../ccf/gov/cose.ts";
import {
  DEFAULT_CONSTITUTION,
  governanceGenesisWrites,
  installGovernance,
} from "../../../../ccf/sandbox/governance/mod.ts";
import { type RunningSandbox, startSandbox } from "../../../../ccf/sandbox/node/mod.ts";
import type { Identity } from "../../../../ccf/sandbox/node/workspace.ts";
import { kmsArtefacts, nextCreatedAt, nodeClock, proposal } from "./_harness.ts";

const V = "api-version=2024-07-01";

interface Signer {
  readonly id: string;
  readonly certPem: string;
  readonly keyPem: string;
}

interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  // deno-lint-ignore no-explicit-any
  readonly json: any;
}

const signerOf = async (identity: Identity): Promise<Signer> => ({
  id: identity.id,
  certPem: identity.certPem,
  keyPem: await Deno.readTextFile(identity.keyPath),
});

class Client {
  constructor(readonly base: string, readonly http: Deno.HttpClient) {}

  async send(path: string, init: RequestInit = {}): Promise<Reply> {
    const response = await fetch(`${this.base}${path}`, { ...init, client: this.http });
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, text, json };
  }

  signed(
    path: string,
    signer: Signer,
    payload: string,
    type: "proposal" | "ballot" | "withdrawal",
    id?: string,
  ) {
    const body = signGovMessage(
      new TextEncoder().encode(payload),
      signer,
      type,
      nextCreatedAt(),
      id,
    );
    return this.send(path, {
      method: "POST",
      headers: { "content-type": "application/cose" },
      body: new Uint8Array(body),
    });
  }

  /** Proposes as `voters[0]`, then every voter votes yes; returns the final proposal. */
  async pass(body: string, voters: readonly Signer[]): Promise<Reply> {
    const created = await this.signed(
      `/gov/members/proposals:create?${V}`,
      voters[0],
      body,
      "proposal",
    );
    assert.equal(created.status, 200, created.text);
    assert.equal(created.json.proposalState, "Open");
    const id = created.json.proposalId;
    let last = created;
    for (const v of voters) {
      last = await this.signed(
        `/gov/members/proposals/${id}/ballots/${v.id}:submit?${V}`,
        v,
        JSON.stringify({ ballot: "export function vote(proposal, proposerId) { return true; }" }),
        "ballot",
        id,
      );
      assert.equal(last.status, 200, last.text);
    }
    return last;
  }
}

const withSandbox = async (
  fn: (sandbox: RunningSandbox, client: Client, members: Signer[]) => Promise<void>,
) => {
  const dir = await Deno.makeTempDir({ prefix: "sandbox-gov-" });
  const logs: string[] = [];
  const sandbox = await startSandbox({
    workspace: dir,
    port: 0,
    members: 3,
    users: 1,
    signatureIntervalMs: 0,
    genesisWrites: governanceGenesisWrites,
    log: (line) => logs.push(line),
  });
  const http = Deno.createHttpClient({ caCerts: [sandbox.node.serviceCertPem] });
  try {
    await installGovernance(sandbox.node, { log: (line) => logs.push(line), clock: nodeClock });
    const members = await Promise.all(sandbox.node.workspace.members.map(signerOf));
    await fn(sandbox, new Client(sandbox.server.url, http), members);
  } catch (e) {
    console.error(logs.join("\n"));
    throw e;
  } finally {
    http.close();
    await sandbox.stop();
    await Deno.remove(dir, { recursive: true });
  }
};

Deno.test("e2e: the KMS deployed, extended and governed by proposals over HTTPS", async () => {
  const { bundle, kmsActions } = await kmsArtefacts();
  await withSandbox(async (sandbox, client, [m0, m1, m2]) => {
    const constitution = await client.send(`/gov/service/constitution?${V}`);
    assert.equal(constitution.status, 200);
    assert.equal(constitution.headers.get("content-type"), "text/javascript");
    assert.equal(constitution.text, DEFAULT_CONSTITUTION);
    assert.equal(
      (await client.send("/gov/service/constitution")).json.error.code,
      "MissingApiVersionParameter",
    );

    assert.equal((await client.send("/app/heartbeat")).status, 404);
    const deployed = await client.pass(proposal({ name: "set_js_app", args: { bundle } }), [
      m0,
      m1,
    ]);
    assert.equal(deployed.json.proposalState, "Accepted", deployed.text);
    assert.deepEqual(Object.keys(deployed.json.finalVotes).sort(), [m0.id, m1.id].sort());
    assert.equal((await client.send("/app/heartbeat")).status, 200);
    const app = await client.send(`/gov/service/javascript-app?${V}`);
    assert.equal(app.json.endpoints["/heartbeat"].GET.jsModule, "/app.js");

    const extended = await client.pass(
      proposal({
        name: "set_constitution",
        args: { constitution: `${constitution.text}\n${kmsActions}\n` },
      }),
      [m1, m2],
    );
    assert.equal(extended.json.proposalState, "Accepted", extended.text);

    const change = {
      type: "add",
      claims: {
        "x-ms-isolation-tee.x-ms-attestation-type": ["sevsnpvm"],
        "x-ms-isolation-tee.x-ms-compliance-status": ["azure-compliant-cvm"],
      },
    };
    const policy = await client.pass(proposal({ name: "set_key_release_policy", args: change }), [
      m2,
      m0,
    ]);
    assert.equal(policy.json.proposalState, "Accepted", policy.text);
    const readBack = await client.send("/app/keyReleasePolicy");
    assert.equal(readBack.status, 200, readBack.text);
    assert.match(readBack.text, /sevsnpvm/);
    assert.match(readBack.text, /azure-compliant-cvm/);

    // Classic API: the same proposal state in snake_case, the proposal's actions verbatim.
    const classic = await client.send(`/gov/proposals/${policy.json.proposalId}`);
    assert.equal(classic.json.state, "Accepted");
    assert.equal(classic.json.proposer_id, m2.id);
    const actions = await client.send(
      `/gov/members/proposals/${policy.json.proposalId}/actions?${V}`,
    );
    assert.deepEqual(actions.json, { actions: [{ name: "set_key_release_policy", args: change }] });

    // Every step is in the ledger: committed once signed.
    sandbox.node.emitSignature();
    const status = await client.send(`/gov/service/transactions/${sandbox.node.lastTxId}?${V}`);
    assert.equal(status.json.status, "Committed");
  });
});

Deno.test("e2e: set_jwt_issuer by proposal, then /app/auth accepts a token of that issuer", async () => {
  const { bundle, kmsActions } = await kmsArtefacts();
  await withSandbox(async (_sandbox, client, [m0, m1]) => {
    await client.pass(proposal({ name: "set_js_app", args: { bundle } }), [m0, m1]);
    // The app accepts a token only under its issuer's validation policy, a KMS action.
    await client.pass(
      proposal({
        name: "set_constitution",
        args: { constitution: `${DEFAULT_CONSTITUTION}\n${kmsActions}\n` },
      }),
      [m0, m1],
    );
    const issuer = "https://demo-idp.example";
    const { publicKey, privateKey } = await generateKeyPair("RS256", { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: "demo-kid", use: "sig" };
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ sub: "vm" })
      .setProtectedHeader({ alg: "RS256", kid: "demo-kid" })
      .setIssuer(issuer)
      .setNotBefore(now - 60)
      .setExpirationTime(now + 600)
      .sign(privateKey);
    const bearer = { headers: { authorization: `Bearer ${token}` } };
    assert.equal((await client.send("/app/auth", bearer)).status, 401);

    const trusted = await client.pass(
      proposal(
        { name: "set_jwt_issuer", args: { issuer, key_filter: "all", jwks: { keys: [jwk] } } },
        { name: "set_jwt_validation_policy", args: { issuer, validation_policy: { iss: issuer } } },
      ),
      [m0, m1],
    );
    assert.equal(trusted.json.proposalState, "Accepted", trusted.text);
    const jwks = await client.send(`/gov/service/jwk?${V}`);
    assert.equal(jwks.json.keys["demo-kid"][0].issuer, issuer);
    assert.match(jwks.json.keys["demo-kid"][0].publicKey, /BEGIN PUBLIC KEY/);

    const auth = await client.send("/app/auth", bearer);
    assert.equal(auth.status, 200, auth.text);
    assert.equal(auth.json.policy, "jwt");
    assert.equal(auth.json.issuer, issuer);

    const removed = await client.pass(proposal({ name: "remove_jwt_issuer", args: { issuer } }), [
      m1,
      m0,
    ]);
    assert.equal(removed.json.proposalState, "Accepted");
    assert.equal((await client.send("/app/auth", bearer)).status, 401);
  });
});

Deno.test("e2e: refusals over HTTP are CCF's OData errors", async () => {
  await withSandbox(async (_sandbox, client, [m0, m1]) => {
    const invalid = await client.signed(
      `/gov/members/proposals:create?${V}`,
      m0,
      proposal({ name: "set_user", args: { cert: "x" } }),
      "proposal",
    );
    assert.equal(invalid.status, 400);
    assert.equal(invalid.json.error.code, "ProposalFailedToValidate");
    assert.match(invalid.json.error.message, /cert must be one or more valid X509 certificates/);

    // Input the constitution could not handle is refused before it runs (CCF would answer 500).
    const deep = await client.signed(
      `/gov/members/proposals:create?${V}`,
      m0,
      `{"actions":[{"name":"set_user","args":${"[".repeat(100_000)}${"]".repeat(100_000)}}]}`,
      "proposal",
    );
    assert.equal(deep.status, 400, deep.text);
    assert.equal(deep.json.error.code, "InvalidInput");
    const many = await client.signed(
      `/gov/members/proposals:create?${V}`,
      m0,
      proposal(
        ...Array.from({ length: 20_000 }, () => ({ name: "refresh_js_app_bytecode_cache" })),
      ),
      "proposal",
    );
    assert.equal(many.status, 400, many.text);
    assert.match(many.json.error.message, /has 20000 actions/);

    const unsigned = await client.send(`/gov/members/proposals:create?${V}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    assert.equal(unsigned.status, 401);
    assert.equal(unsigned.json.error.code, "InvalidAuthenticationInfo");
    assert.equal(
      unsigned.headers.get("www-authenticate"),
      'COSE-SIGN1 realm="Signed request access"',
    );

    const missing = await client.send(`/gov/members/proposals/${"a".repeat(64)}?${V}`);
    assert.equal(missing.status, 404);
    assert.equal(missing.json.error.code, "ProposalNotFound");
    const badId = await client.send(`/gov/members/proposals/xyz?${V}`);
    assert.equal(badId.json.error.code, "InvalidResourceName");
    const version = await client.send(`/gov/service/info?api-version=2020-01-01`);
    assert.equal(version.json.error.code, "UnsupportedApiVersionValue");
    const verb = await client.send(`/gov/service/info?${V}`, { method: "DELETE" });
    assert.equal(verb.status, 405);
    assert.equal((await client.send("/gov/nothing")).status, 404);

    const info = await client.send(`/gov/service/info?${V}`);
    assert.equal(info.json.status, "Open");
    const members = await client.send(`/gov/service/members?${V}`);
    assert.equal(members.json.value.length, 3);
    const member = await client.send(`/gov/service/members/${m1.id}?${V}`);
    assert.equal(member.json.status, "Active");
    assert.equal(member.json.certificate, m1.certPem);

    // Classic creation answers in snake_case.
    const created = await client.signed(
      "/gov/proposals",
      m0,
      proposal({ name: "remove_js_app" }),
      "proposal",
    );
    assert.equal(created.status, 200, created.text);
    assert.equal(created.json.state, "Open");
    assert.equal(created.json.ballot_count, 0);
    const withdrawn = await client.signed(
      `/gov/proposals/${created.json.proposal_id}/withdraw`,
      m0,
      "",
      "withdrawal",
      created.json.proposal_id,
    );
    assert.equal(withdrawn.json.state, "Withdrawn");
  });
});

Deno.test("e2e: a node started without the genesis hook gets the default constitution on install", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sandbox-gov-" });
  const sandbox = await startSandbox({
    workspace: dir,
    port: 0,
    members: 1,
    users: 0,
    signatureIntervalMs: 0,
    log: () => {},
  });
  try {
    const before = sandbox.node.lastTxId;
    await installGovernance(sandbox.node);
    assert.notEqual(sandbox.node.lastTxId, before);
    const constitution = sandbox.node.readTransaction().get(
      "public:ccf.gov.constitution",
      new Uint8Array(8),
    );
    assert.equal(JSON.parse(new TextDecoder().decode(constitution)), DEFAULT_CONSTITUTION);
    // Installing again changes nothing.
    const after = sandbox.node.lastTxId;
    await installGovernance(sandbox.node);
    assert.equal(sandbox.node.lastTxId, after);
  } finally {
    await sandbox.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
