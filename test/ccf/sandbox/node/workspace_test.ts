import assert from "node:assert/strict";
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { denoReceiptCrypto } from "../../../../client/receiptCrypto.ts";
import { prepareWorkspace } from "../../../../ccf/sandbox/node/workspace.ts";
import { certificateDer, isEndorsedBy } from "../../../../ccf/sandbox/node/certificates.ts";
import { nodeSigner } from "../../../../ccf/sandbox/node/signer.ts";
import { verifyRootSignature } from "../../../../ccf/sandbox/ledger/signature.ts";
import { tempWorkspace } from "./_harness.ts";

const mode = async (path: string) => (await Deno.stat(path)).mode! & 0o777;

Deno.test("workspace: CCF's sandbox layout, P-384 SEC1 keys readable only by the owner", async () => {
  const ws = await tempWorkspace();
  try {
    const w = await prepareWorkspace({ dir: ws.dir, members: 2, users: 1 });
    const p = w.paths;
    assert.equal(p.serviceCert, `${ws.dir}/sandbox_common/service_cert.pem`);
    assert.equal(p.ledgerDir, `${ws.dir}/sandbox_0/0.ledger`);
    assert.deepEqual(w.members.map((m) => m.certPath), [
      `${ws.dir}/sandbox_common/member0_cert.pem`,
      `${ws.dir}/sandbox_common/member1_cert.pem`,
    ]);
    assert.equal(w.users[0].keyPath, `${ws.dir}/sandbox_common/user0_privk.pem`);
    for (
      const key of [
        p.serviceKey,
        p.nodeKey,
        ...[...w.members, ...w.users].map((i) => i.keyPath),
      ]
    ) {
      assert.equal(await mode(key), 0o600, key);
      const pem = await Deno.readTextFile(key);
      assert.match(pem, /^-----BEGIN EC PRIVATE KEY-----\n/);
      assert.equal(createPrivateKey(pem).asymmetricKeyDetails?.namedCurve, "secp384r1");
    }
    for (const id of [...w.members, ...w.users]) {
      assert.equal(id.id, bytesToHex(sha256(certificateDer(id.certPem))));
      assert.equal(new X509Certificate(id.certPem).subject, `CN=${id.name}`);
    }
  } finally {
    await ws.remove();
  }
});

Deno.test("workspace: the node certificate is a TLS server certificate endorsed by the service CA", async () => {
  const ws = await tempWorkspace();
  try {
    const w = await prepareWorkspace({ dir: ws.dir, members: 1, users: 0 });
    const service = new X509Certificate(w.serviceCertPem);
    const node = new X509Certificate(w.nodeCertPem);
    assert.equal(service.ca, true);
    assert.equal(node.ca, false);
    assert.equal(node.issuer, service.subject);
    assert.ok(node.verify(service.publicKey));
    assert.ok(await isEndorsedBy(w.nodeCertPem, w.serviceCertPem));
    assert.equal(denoReceiptCrypto.verifyEndorsement(w.nodeCertPem, w.serviceCertPem), true);
    assert.equal(node.subjectAltName, "IP Address:127.0.0.1, DNS:localhost");
    assert.ok(node.checkIP("127.0.0.1") && node.checkHost("localhost"));
    const spki = createPublicKey(w.nodeKeyPem).export({ type: "spki", format: "der" });
    assert.equal(w.nodeId, bytesToHex(sha256(new Uint8Array(spki))));
    // The signer signs a root the way receipts are checked: the root is the digest.
    const signer = nodeSigner(w.nodeKeyPem, w.nodeCertPem, w.nodeId);
    const root = sha256(new TextEncoder().encode("root"));
    const signature = signer.sign(root);
    assert.ok(verifyRootSignature(w.nodeCertPem, root, signature));
    assert.ok(denoReceiptCrypto.verifyDigestSignature(w.nodeCertPem, root, signature));
  } finally {
    await ws.remove();
  }
});

Deno.test("workspace: each node of a network has its own key and certificate, endorsed alike", async () => {
  const ws = await tempWorkspace();
  try {
    const first = await prepareWorkspace({ dir: ws.dir, members: 1, users: 0 });
    const second = await prepareWorkspace({ dir: ws.dir, members: 1, users: 0, node: 1 });
    assert.equal(second.paths.nodeDir, `${ws.dir}/sandbox_1`);
    assert.equal(second.paths.ledgerDir, `${ws.dir}/sandbox_1/0.ledger`);
    assert.equal(second.paths.serviceKey, first.paths.serviceKey, "one service identity");
    assert.equal(second.serviceCertPem, first.serviceCertPem);
    assert.notEqual(second.nodeId, first.nodeId);
    assert.equal(await mode(second.paths.nodeKey), 0o600);
    assert.ok(await isEndorsedBy(second.nodeCertPem, second.serviceCertPem));
    assert.deepEqual(second.members, first.members);
    const again = await prepareWorkspace({ dir: ws.dir, members: 1, users: 0, node: 1 });
    assert.equal(again.nodeCertPem, second.nodeCertPem, "reused on the next start");
    assert.deepEqual(again.changes, []);
  } finally {
    await ws.remove();
  }
});

Deno.test("workspace: a restart reuses every identity; an expiring node certificate is renewed", async () => {
  const ws = await tempWorkspace();
  try {
    const first = await prepareWorkspace({ dir: ws.dir, members: 1, users: 1 });
    assert.ok(first.changes.length > 0);
    const again = await prepareWorkspace({ dir: ws.dir, members: 1, users: 1 });
    assert.deepEqual(again.changes, []);
    assert.equal(again.serviceCertPem, first.serviceCertPem);
    assert.equal(again.nodeCertPem, first.nodeCertPem);
    assert.equal(again.members[0].id, first.members[0].id);
    assert.equal(again.users[0].id, first.users[0].id);

    const later = Date.now() + 88 * 24 * 3600 * 1000;
    const renewed = await prepareWorkspace({ dir: ws.dir, members: 1, users: 1, now: later });
    assert.deepEqual(renewed.changes, [`renewed ${first.paths.nodeCert}`]);
    assert.notEqual(renewed.nodeCertPem, first.nodeCertPem);
    assert.equal(renewed.nodeId, first.nodeId);
    assert.ok(await isEndorsedBy(renewed.nodeCertPem, first.serviceCertPem));
    assert.equal(renewed.members[0].id, first.members[0].id);

    await Deno.remove(first.paths.serviceKey);
    await assert.rejects(
      prepareWorkspace({ dir: ws.dir, members: 1, users: 1 }),
      /service identity cannot be recovered/,
    );
  } finally {
    await ws.remove();
  }
});

Deno.test("workspace: a temporary file left by a crash is replaced, never reused with its mode", async () => {
  const ws = await tempWorkspace();
  try {
    const common = `${ws.dir}/sandbox_common`;
    await Deno.mkdir(common, { recursive: true });
    const stale = `${common}/member0_privk.pem.tmp`;
    await Deno.writeTextFile(stale, "half a key from before the crash");
    await Deno.chmod(stale, 0o644);
    const w = await prepareWorkspace({ dir: ws.dir, members: 1, users: 0 });
    const key = await Deno.readTextFile(w.members[0].keyPath);
    assert.match(key, /^-----BEGIN EC PRIVATE KEY-----\n/);
    assert.equal(await mode(w.members[0].keyPath), 0o600);
    await assert.rejects(() => Deno.stat(stale), Deno.errors.NotFound);
  } finally {
    await ws.remove();
  }
});
