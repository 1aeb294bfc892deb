import assert from "node:assert/strict";
import * as E from "fp-ts/lib/Either.js";
import { exportSPKI, generateKeyPair, SignJWT } from "jose";
import { base64 } from "@scure/base";
import { verifyReceipt } from "../../../../core/receipt/verify.ts";
import { denoReceiptCrypto } from "../../../../client/receiptCrypto.ts";
import { jwtIssuers, jwtSigningKeys } from "../../../../ccf/sandbox/govTables.ts";
import { jwtValidationTable } from "../../../../core/tables.ts";
import type { RunningSandbox } from "../../../../ccf/sandbox/node/mod.ts";
import {
  createIdentityCertificate,
  generateP384KeyPair,
} from "../../../../ccf/sandbox/node/certificates.ts";
import {
  call,
  callUntilFetched,
  deploy,
  httpClient,
  kmsBundle,
  seqnoOf,
  startTestSandbox,
  tempWorkspace,
} from "./_harness.ts";

const encoder = new TextEncoder();
const ISSUER = "https://issuer.test.example";

const spkiBase64 = async (key: CryptoKey): Promise<string> => {
  const pem = await exportSPKI(key);
  return pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
};

/**
 * Trusts `ISSUER` with an RS256 and an ES256 key, as set_jwt_issuer would, and sets the issuer's
 * JWT validation policy, without which the app refuses its tokens.
 */
const trustIssuer = async (sandbox: RunningSandbox) => {
  const rsa = await generateKeyPair("RS256", { extractable: true });
  const ec = await generateKeyPair("ES256", { extractable: true });
  const rsaSpki = await spkiBase64(rsa.publicKey);
  const ecSpki = await spkiBase64(ec.publicKey);
  sandbox.node.commitGovernance((tx) => {
    tx.set(
      jwtIssuers,
      encoder.encode(ISSUER),
      encoder.encode(JSON.stringify({ auto_refresh: false })),
    );
    tx.set(
      jwtValidationTable.map,
      encoder.encode(ISSUER),
      encoder.encode(JSON.stringify({ iss: ISSUER })),
    );
    for (const [kid, key] of [["rsa-kid", rsaSpki], ["ec-kid", ecSpki]]) {
      tx.set(
        jwtSigningKeys,
        encoder.encode(kid),
        encoder.encode(JSON.stringify([{ public_key: key, issuer: ISSUER }])),
      );
    }
  });
  return { rsa, ec };
};

const token = (
  key: CryptoKey,
  alg: "RS256" | "ES256",
  kid: string,
  claims: { nbf?: number; exp?: number } = {},
): Promise<string> => {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: ISSUER, sub: "vm" })
    .setProtectedHeader({ alg, kid })
    .setNotBefore(claims.nbf ?? now - 60)
    .setExpirationTime(claims.exp ?? now + 600)
    .sign(key);
};

const bearer = (t: string) => ({ headers: { authorization: `Bearer ${t}` } });

const receiptVerifies = (receipt: unknown, serviceCertPem: string, claim: string) =>
  verifyReceipt(denoReceiptCrypto, {
    receipt,
    serviceCertPem,
    expected: { claim: encoder.encode(claim) },
  });

Deno.test("sandbox node: the KMS app over HTTPS, authentication, receipts and restart", async (t) => {
  const app = await kmsBundle();
  const ws = await tempWorkspace();
  let sandbox = await startTestSandbox(ws.dir);
  const serviceCertPem = await Deno.readTextFile(sandbox.node.workspace.paths.serviceCert);
  const clients: Deno.HttpClient[] = [];
  const client = async (identity?: Parameters<typeof httpClient>[1]) => {
    const c = await httpClient(serviceCertPem, identity);
    clients.push(c);
    return c;
  };
  try {
    await deploy(sandbox, app);
    let url = sandbox.server.url;
    const anonymous = await client();
    const member = await client(sandbox.node.workspace.members[0]);
    const user = await client(sandbox.node.workspace.users[0]);

    await t.step("/node/network and the heartbeat answer with a transaction id", async () => {
      const network = await call(anonymous, `${url}/node/network`);
      assert.equal(network.status, 200);
      assert.equal(network.json.service_certificate, serviceCertPem);
      assert.equal(network.json.service_status, "Open");
      assert.equal(network.json.current_view, 2);
      assert.match(network.headers.get("x-ms-ccf-transaction-id") ?? "", /^2\.\d+$/);
      for (const path of ["/app/heartbeat", "/heartbeat"]) {
        const beat = await call(anonymous, `${url}${path}`);
        assert.equal(beat.status, 200);
        assert.deepEqual(beat.json, { status: "ok" });
        assert.equal(beat.headers.get("x-ms-ccf-transaction-id"), sandbox.node.lastTxId);
      }
    });

    await t.step(
      "/app/auth: user and member certificates; unknown ones get CCF's 401",
      async () => {
        const asUser = await call(user, `${url}/app/auth`);
        assert.equal(asUser.status, 200);
        assert.deepEqual(asUser.json, {
          policy: "user_cert",
          id: sandbox.node.workspace.users[0].id,
        });
        const asMember = await call(member, `${url}/app/auth`);
        assert.deepEqual(asMember.json, {
          policy: "member_cert",
          id: sandbox.node.workspace.members[0].id,
        });

        const stranger = await generateP384KeyPair();
        const strangerCert = await createIdentityCertificate(stranger.keys, "x", Date.now(), 1);
        const unknown = await client({ certPem: strangerCert.pem, keyPem: stranger.privateKeyPem });
        const refused = await call(unknown, `${url}/app/auth`);
        assert.equal(refused.status, 401);
        assert.equal(
          refused.headers.get("www-authenticate"),
          'Bearer realm="JWT bearer token access", error="invalid_token"',
        );
        assert.deepEqual(refused.json, {
          error: {
            code: "InvalidAuthenticationInfo",
            message: "Invalid authentication credentials.",
            details: [
              {
                auth_policy: "user_cert",
                code: "InvalidAuthenticationInfo",
                message: "Could not find matching user certificate",
              },
              {
                auth_policy: "member_cert",
                code: "InvalidAuthenticationInfo",
                message: "Could not find matching member certificate",
              },
              {
                auth_policy: "jwt",
                code: "InvalidAuthenticationInfo",
                message: "Missing authorization header",
              },
            ],
          },
        });
        assert.match(refused.headers.get("x-ms-ccf-transaction-id") ?? "", /^2\.\d+$/);
      },
    );

    await t.step("/app/auth with JWTs of a trusted issuer; bad tokens get 401", async () => {
      const { rsa, ec } = await trustIssuer(sandbox);
      const now = Math.floor(Date.now() / 1000);
      for (
        const good of [
          await token(rsa.privateKey, "RS256", "rsa-kid"),
          await token(ec.privateKey, "ES256", "ec-kid"),
        ]
      ) {
        const ok = await call(anonymous, `${url}/app/auth`, bearer(good));
        assert.equal(ok.status, 200, ok.text);
        assert.equal(ok.json.policy, "jwt");
        assert.equal(ok.json.issuer, ISSUER);
      }
      const other = await generateKeyPair("RS256");
      const cases: [string, string][] = [
        [
          await token(rsa.privateKey, "RS256", "rsa-kid", { exp: now - 10, nbf: now - 100 }),
          "after token's Expiration Time (exp) claim",
        ],
        [
          await token(rsa.privateKey, "RS256", "rsa-kid", { nbf: now + 100 }),
          "before token's Not Before (nbf) claim",
        ],
        [await token(other.privateKey, "RS256", "rsa-kid"), "Signature verification failed"],
        [
          await token(rsa.privateKey, "RS256", "no-such-kid"),
          "JWT signing key not found for kid no-such-kid",
        ],
      ];
      for (const [bad, reason] of cases) {
        const refused = await call(anonymous, `${url}/app/auth`, bearer(bad));
        assert.equal(refused.status, 401);
        const jwtDetail = refused.json.error.details.find((d: { auth_policy: string }) =>
          d.auth_policy === "jwt"
        );
        assert.ok(jwtDetail.message.includes(reason), jwtDetail.message);
        assert.ok(refused.headers.get("www-authenticate"));
      }
    });

    let key: { publicKey: string; txId: string } | undefined;
    await t.step(
      "refresh as a member; listpubkeys 202, then 200 with a receipt once signed",
      async () => {
        const unauthenticated = await call(anonymous, `${url}/app/refresh`, { method: "POST" });
        assert.equal(unauthenticated.status, 401);

        const created = await call(member, `${url}/app/refresh`, { method: "POST" });
        assert.equal(created.status, 200, created.text);
        const txId = created.headers.get("x-ms-ccf-transaction-id")!;
        assert.equal(txId, sandbox.node.lastTxId);
        key = { publicKey: created.json.publicKey, txId };

        const pending = await call(anonymous, `${url}/listpubkeys`);
        assert.equal(pending.status, 202);
        assert.ok(pending.headers.get("retry-after"));
        const status = await call(anonymous, `${url}/app/tx?transaction_id=${txId}`);
        assert.deepEqual(status.json, { status: "Pending", transaction_id: txId });
        const noReceipt = await call(anonymous, `${url}/app/receipt?transaction_id=${txId}`);
        assert.equal(noReceipt.status, 404);
        assert.equal(noReceipt.json.error.code, "TransactionPendingOrUnknown");

        const signature = sandbox.node.emitSignature();
        assert.ok(signature && signature.seqno > seqnoOf(txId));
        const listed = await callUntilFetched(anonymous, `${url}/listpubkeys`);
        assert.equal(listed.status, 200, listed.text);
        assert.equal(listed.json.length, 1);
        assert.equal(listed.json[0].publicKey, key.publicKey);
        const checked = receiptVerifies(
          JSON.parse(listed.json[0].receipt),
          serviceCertPem,
          key.publicKey,
        );
        assert.ok(E.isRight(checked), JSON.stringify(checked));
        // The receipt of another claim does not verify.
        assert.ok(
          E.isLeft(receiptVerifies(JSON.parse(listed.json[0].receipt), serviceCertPem, "00")),
        );

        const committed = await call(anonymous, `${url}/app/tx?transaction_id=${txId}`);
        assert.deepEqual(committed.json, { status: "Committed", transaction_id: txId });
        // A historical endpoint: 202 while the node fetches the transaction, as on CCF.
        const fetching = await call(anonymous, `${url}/app/receipt?transaction_id=${txId}`);
        assert.equal(fetching.status, 202);
        assert.ok(fetching.headers.get("retry-after"));
        const rest = await callUntilFetched(anonymous, `${url}/app/receipt?transaction_id=${txId}`);
        assert.equal(rest.status, 200);
        assert.ok(E.isRight(receiptVerifies(rest.json, serviceCertPem, key.publicKey)));
        const commit = await call(anonymous, `${url}/app/commit`);
        assert.equal(commit.json.transaction_id, `2.${signature.seqno}`);

        // A user certificate authenticates too, for a scheduler's ifDue (forcing is a member's).
        const byUser = await call(user, `${url}/app/refresh?ifDue=true`, { method: "POST" });
        assert.equal(byUser.status, 200);
        assert.equal(byUser.json.created, false, "the key just created is active");
        const again = await call(member, `${url}/app/refresh`, { method: "POST" });
        assert.equal(seqnoOf(again.headers.get("x-ms-ccf-transaction-id")), signature.seqno + 1);
      },
    );

    await t.step(
      "built-ins: bad transaction ids, unknown paths, methods, /app/api, 413",
      async () => {
        const missing = await call(anonymous, `${url}/app/tx`);
        assert.equal(missing.status, 400);
        assert.equal(missing.json.error.code, "InvalidQueryParameterValue");
        const malformed = await call(anonymous, `${url}/app/receipt?transaction_id=two`);
        assert.equal(malformed.status, 400);
        const invalid = await call(anonymous, `${url}/app/tx?transaction_id=3.1`);
        assert.equal(invalid.json.status, "Invalid");
        const unknown = await call(anonymous, `${url}/app/nothing-here`);
        assert.equal(unknown.status, 404);
        assert.deepEqual(unknown.json, {
          error: { code: "ResourceNotFound", message: "Unknown path: /nothing-here." },
        });
        assert.match(unknown.headers.get("x-ms-ccf-transaction-id") ?? "", /^2\.\d+$/);
        const wrongMethod = await call(anonymous, `${url}/app/heartbeat`, { method: "POST" });
        assert.equal(wrongMethod.status, 405);
        const api = await call(anonymous, `${url}/app/api`);
        assert.equal(api.status, 200);
        assert.equal(api.json.openapi, "3.0.0");
        assert.deepEqual(
          Object.keys(api.json.paths["/listpubkeys"]),
          ["get"],
        );
        assert.equal(
          api.json.paths["/key"].post.summary,
          app.metadata.endpoints["/key"].post.openapi?.summary,
        );
        const network = await call(anonymous, `${url}/node/network/nodes`);
        assert.equal(network.status, 200);
        const self = {
          node_id: sandbox.node.workspace.nodeId,
          status: "Trusted",
          primary: true,
          rpc_interfaces: {
            primary_rpc_interface: {
              bind_address: new URL(url).host,
              published_address: new URL(url).host,
            },
          },
          node_data: null,
          last_written: sandbox.node.ledger.size,
        };
        assert.deepEqual(network.json, { nodes: [self] });
        const one = await call(anonymous, `${url}/node/network/nodes/${self.node_id}`);
        assert.deepEqual(one.json, self);
        assert.equal((await call(anonymous, `${url}/node/network/nodes/ab`)).status, 404);
        const big = await call(member, `${url}/app/refresh`, {
          method: "POST",
          body: new Uint8Array(1024 * 1024 + 1),
        });
        assert.equal(big.status, 413);
        assert.equal(big.json.error.code, "RequestBodyTooLarge");
      },
    );

    await t.step("/gov/... goes to the governance handler once one is installed", async () => {
      const none = await call(anonymous, `${url}/gov/service/constitution`);
      assert.equal(none.status, 404);
      sandbox.node.setGovernanceHandler((request) =>
        new Response(`gov ${request.method} ${request.path}?${request.query}`, { status: 200 })
      );
      const handled = await call(anonymous, `${url}/gov/service/info?api-version=2024-07-01`);
      assert.equal(handled.text, "gov GET /gov/service/info?api-version=2024-07-01");
      assert.ok(handled.headers.get("x-ms-ccf-transaction-id"));
    });

    await t.step(
      "a restart on the same workspace keeps the keys, receipts and the app",
      async () => {
        const before = await call(anonymous, `${url}/listpubkeys`);
        const [lastView, lastSeqno] = sandbox.node.lastTxId.split(".").map(Number);
        for (const c of clients.splice(0)) c.close();
        await sandbox.stop();
        sandbox = await startTestSandbox(ws.dir);
        url = sandbox.server.url;
        const again = await client();
        // stop() signed what was pending: nothing was lost, and no genesis ran again; the
        // restarted node opened a new view with a signature of its own.
        const [view, seqno] = sandbox.node.lastTxId.split(".").map(Number);
        assert.equal(seqno, lastSeqno + 2);
        assert.equal(view, lastView + 1);
        assert.equal(sandbox.node.recovery, null);
        const after = await callUntilFetched(again, `${url}/listpubkeys`);
        assert.equal(after.status, 200);
        assert.equal(after.json.length, 2);
        assert.deepEqual(after.json[0], before.json[0]);
        for (const entry of after.json) {
          assert.ok(
            E.isRight(receiptVerifies(JSON.parse(entry.receipt), serviceCertPem, entry.publicKey)),
          );
        }
        const rest = await callUntilFetched(
          again,
          `${url}/app/receipt?transaction_id=${key!.txId}`,
        );
        assert.ok(E.isRight(receiptVerifies(rest.json, serviceCertPem, key!.publicKey)));
      },
    );
  } finally {
    for (const c of clients) c.close();
    await sandbox.stop();
    await ws.remove();
  }
});

Deno.test("sandbox node: signature transactions follow the timer and the transaction count", async () => {
  const ws = await tempWorkspace();
  const sandbox = await startTestSandbox(ws.dir, {
    signatureIntervalMs: 30,
    signatureTxInterval: 3,
  });
  try {
    const { node } = sandbox;
    const write = (i: number) =>
      node.commitGovernance((tx) =>
        tx.set("public:test", encoder.encode(`k${i}`), encoder.encode("v"))
      )!;
    const first = write(0);
    assert.equal(node.ledger.txStatus(first.seqno), "Pending");
    const deadline = Date.now() + 2000;
    while (node.ledger.txStatus(first.seqno) !== "Committed" && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(node.ledger.txStatus(first.seqno), "Committed");
    const last = [write(1), write(2), write(3)][2];
    // The third pending transaction triggered a signature synchronously.
    assert.equal(node.ledger.txStatus(last.seqno), "Committed");
    assert.ok(node.ledger.receiptFor(last.seqno));
    assert.equal(node.read("public:test", "k3")?.length, 1);
    assert.equal(
      base64.encode(node.read("public:test", "k3")!),
      base64.encode(encoder.encode("v")),
    );
  } finally {
    await sandbox.stop();
    await ws.remove();
  }
});
