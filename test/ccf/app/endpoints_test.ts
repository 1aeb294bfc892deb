import assert from "node:assert/strict";
import { constants, generateKeyPairSync, privateDecrypt } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import { base64urlnopad } from "@scure/base";
import { p384 } from "@noble/curves/nist.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { toHex, utf8 } from "../../../core/bytes.ts";
import { decodePrivateKeyCbor } from "../../../core/keys/privateKeyCbor.ts";
import { keyConfigFromHex } from "../../../core/ohttp/keyConfig.ts";
import {
  jwtValidationTable,
  keyReleaseTable,
  privateKeysTable,
  rotationTable,
} from "../../../core/tables.ts";
import { asMember, createKms } from "./_harness.ts";
import { SEED_STORED_POLICY } from "../../fixtures/policies.ts";

const issuer = "https://maa.example";
const tpm = generateKeyPairSync("rsa", { modulusLength: 2048 });
const tpmJwk = { ...tpm.publicKey.export({ format: "jwk" }), kid: "TpmEphemeralEncryptionKey" };
const seedClaims = {
  iss: issuer,
  "x-ms-ver": "1.0",
  "x-ms-azurevm-debuggersdisabled": true,
  "x-ms-azurevm-osversion-major": 22,
  "x-ms-runtime": { keys: [tpmJwk] },
};
const jwt = (payload: Record<string, unknown> = seedClaims) => ({
  policy: "jwt",
  jwt: { keyIssuer: issuer, header: { alg: "RS256", kid: "k" }, payload },
});

const kmsWithPolicies = async () => {
  const kms = await createKms();
  kms.govWrite(jwtValidationTable.map, issuer, { iss: issuer });
  kms.govWrite(keyReleaseTable.map, keyReleaseTable.key, SEED_STORED_POLICY);
  return kms;
};

const unwrap = (b64: string) =>
  new Uint8Array(privateDecrypt(
    { key: tpm.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
    Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)),
  ));

Deno.test("QuickJS: heartbeat answers and echoes the caller's request id", async () => {
  const kms = await createKms();
  const r = kms.call("GET", "/app/heartbeat", { headers: { "x-ms-request-id": "a1a2-b1" } });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { status: "ok" });
  assert.equal(r.headers["x-ms-kms-request-id"], "a1a2-b1");
  kms.dispose();
});

Deno.test("QuickJS: refresh creates a P-384 key whose receipt is bound to its KeyConfig hex", async () => {
  const kms = await createKms();
  const r = kms.call("POST", "/app/refresh", asMember);
  assert.equal(r.status, 200);
  assert.equal(r.json.created, true);
  assert.equal(r.json.id, 0);
  assert.match(r.json.publicKey, /^00001104[0-9a-f]{192}000400020002$/);
  assert.ok(E.isRight(keyConfigFromHex(r.json.publicKey)));
  assert.equal(toHex(r.raw.claimsDigest!), toHex(sha256(utf8(r.json.publicKey))));
  assert.equal(kms.call("POST", "/app/refresh", asMember).json.id, 1);
  kms.dispose();
});

Deno.test("QuickJS: listpubkeys is 404 without keys, 202 before the receipt, then newest last", async () => {
  const kms = await createKms();
  const none = kms.call("GET", "/listpubkeys");
  assert.equal(none.status, 404);
  assert.equal(none.json.error.code, "KeyNotFound");
  const first = kms.call("POST", "/app/refresh", asMember).json;
  const pending = kms.call("GET", "/listpubkeys");
  assert.equal(pending.status, 202);
  assert.equal(pending.headers["retry-after"], "1");
  const second = kms.call("POST", "/app/refresh", asMember).json;
  kms.signEverything();
  const listed = kms.call("GET", "/app/listpubkeys");
  assert.equal(listed.status, 200);
  assert.deepEqual(listed.json.map((k: { publicKey: string }) => k.publicKey), [
    first.publicKey,
    second.publicKey,
  ]);
  assert.equal(typeof listed.json[1].receipt, "string");
  assert.equal(JSON.parse(listed.json[1].receipt).signature, "sig");
  kms.dispose();
});

Deno.test("QuickJS: key releases the private key wrapped to the TPM key, matching the published key", async () => {
  const kms = await kmsWithPolicies();
  const published = kms.call("POST", "/app/refresh", asMember).json;
  assert.equal(kms.call("POST", "/app/key", { query: "kid=0", caller: jwt() }).status, 202);
  kms.signEverything();
  const r = kms.call("POST", "/app/key", { query: "kid=0&encrypted=true", caller: jwt() });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.kid, 0);
  assert.equal(typeof r.json.receipt, "string");
  const key = decodePrivateKeyCbor(unwrap(r.json.key));
  assert.ok(E.isRight(key));
  assert.equal(key.right.kid, 0);
  const point = toHex(p384.getPublicKey(key.right.d, false));
  assert.equal(published.publicKey.slice(6, 6 + 194), point);
  // Without kid, the newest key.
  kms.call("POST", "/app/refresh", asMember);
  assert.equal(kms.call("POST", "/app/key", { caller: jwt() }).json.kid, 1);
  kms.dispose();
});

Deno.test("QuickJS: every refusal has its status, a message, and changes nothing", async () => {
  const kms = await kmsWithPolicies();
  kms.call("POST", "/app/refresh", asMember);
  kms.signEverything();
  const before = kms.store.lastSeqno;
  const runtimeKeys = (keys: unknown[]) => ({ ...seedClaims, "x-ms-runtime": { keys } });
  const short = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({
    format: "jwk",
  });
  // Keys OpenSSL cannot encrypt to (in CCF the wrap would throw): the core refuses them first.
  const modulus = base64urlnopad.decode(String(tpmJwk.n));
  const evenModulus = base64urlnopad.encode(modulus.map((b, i) => i < 255 ? b : b & 0xfe));
  const longModulus = base64urlnopad.encode(
    Uint8Array.of(1, ...[1, 2, 3, 4].flatMap(() => [...modulus])),
  );
  const cases: [string, Record<string, unknown>, number, string][] = [
    ["kid=abc", jwt(), 400, "InvalidInput"],
    ["kid=-1", jwt(), 400, "InvalidInput"],
    ["kid=256", jwt(), 400, "InvalidInput"],
    ["kid=1e3", jwt(), 400, "InvalidInput"],
    ["kid=0x1", jwt(), 400, "InvalidInput"],
    ["kid=7", jwt(), 404, "KeyNotFound"],
    ["kid=0", { policy: "user_cert", id: "u" }, 401, "Unauthenticated"],
    ["kid=0", jwt({ ...seedClaims, iss: "https://evil" }), 401, "Unauthenticated"],
    ["kid=0", jwt({ ...seedClaims, "x-ms-runtime": undefined }), 400, "InvalidInput"],
    [
      "kid=0",
      jwt(runtimeKeys([{ kid: "TpmEphemeralEncryptionKey", kty: "EC", crv: "P-256" }])),
      400,
      "InvalidInput",
    ],
    [
      "kid=0",
      jwt(runtimeKeys([{ ...short, kid: "TpmEphemeralEncryptionKey" }])),
      400,
      "InvalidInput",
    ],
    ["kid=0", jwt(runtimeKeys([{ ...tpmJwk, e: "!!" }])), 400, "InvalidInput"],
    ["kid=0", jwt(runtimeKeys([{ ...tpmJwk, n: evenModulus }])), 400, "InvalidInput"],
    ["kid=0", jwt(runtimeKeys([{ ...tpmJwk, n: longModulus }])), 400, "InvalidInput"],
    ["kid=0", jwt(runtimeKeys([{ ...tpmJwk, e: "AQAAAAAAAAAAAQ" }])), 400, "InvalidInput"],
    ["kid=0", jwt({ ...seedClaims, "x-ms-azurevm-osversion-major": 21 }), 403, "PolicyDenied"],
  ];
  for (const [query, caller, status, code] of cases) {
    const r = kms.call("POST", "/app/key", { query, caller });
    assert.equal(r.status, status, `${query} ${JSON.stringify(r.json)}`);
    assert.equal(r.json.error.code, code);
    assert.ok(r.json.error.message.length > 10);
  }
  const even = kms.call("POST", "/app/key", {
    caller: jwt(runtimeKeys([{ ...tpmJwk, n: evenModulus }])),
  });
  assert.match(even.json.error.message, /TpmEphemeralEncryptionKey modulus is even/);
  const big = kms.call("POST", "/app/key", { caller: jwt(), body: new Uint8Array(4096) });
  assert.equal(big.status, 400);
  assert.equal(kms.store.lastSeqno, before);
  kms.dispose();
});

Deno.test("QuickJS: a corrupt stored policy is the service's fault: 500 Internal, not 400", async () => {
  const kms = await kmsWithPolicies();
  kms.call("POST", "/app/refresh", asMember);
  kms.signEverything();
  kms.govWrite(rotationTable.map, rotationTable.key, { version: 1, policy: { nope: 1 } });
  kms.govWrite(keyReleaseTable.map, keyReleaseTable.key, { version: 1, policy: 7 });
  kms.govWrite(jwtValidationTable.map, issuer, { iss: 42 });
  const replies = [
    kms.call("POST", "/app/refresh", asMember),
    kms.call("GET", "/app/keyRotationPolicy"),
    kms.call("GET", "/app/keyReleasePolicy"),
    kms.call("GET", "/app/jwtValidationPolicy", { query: `issuer=${issuer}` }),
    kms.call("POST", "/app/key", { caller: jwt() }),
  ];
  for (const r of replies) {
    assert.equal(r.status, 500, JSON.stringify(r.json));
    assert.equal(r.json.error.code, "Internal");
    assert.match(r.json.error.message, /stored/);
  }
  kms.dispose();
});

Deno.test("QuickJS: an exception in a handler is a logged 500 Internal in the KMS's error format", async () => {
  const kms = await createKms();
  const tx = kms.store.begin();
  const bytes = new TextEncoder();
  tx.set(rotationTable.map, bytes.encode(rotationTable.key), bytes.encode("{not json"));
  kms.store.commit(tx);
  const before = kms.store.lastSeqno;
  const r = kms.call("POST", "/app/refresh", asMember);
  assert.equal(r.status, 500);
  assert.equal(r.json.error.code, "Internal");
  assert.equal(kms.store.lastSeqno, before);
  assert.match(kms.logs.at(-1) ?? "", /"endpoint":"refresh","status":500,"code":"Internal"/);
  kms.dispose();
});

Deno.test("QuickJS: a denial lists every failed rule; no policy denies everything", async () => {
  const kms = await createKms();
  kms.govWrite(jwtValidationTable.map, issuer, { iss: issuer });
  kms.call("POST", "/app/refresh", asMember);
  kms.signEverything();
  const nothing = kms.call("POST", "/app/key", { caller: jwt() });
  assert.equal(nothing.status, 403);
  assert.match(nothing.json.error.message, /no key release policy is set/);
  kms.govWrite(keyReleaseTable.map, keyReleaseTable.key, SEED_STORED_POLICY);
  const denied = kms.call("POST", "/app/key", {
    caller: jwt({ ...seedClaims, "x-ms-azurevm-osversion-major": 21 }),
  });
  assert.deepEqual(
    denied.json.error.details.map((f: { rule: string }) => f.rule).sort(),
    ["claims", "gt", "gte"],
  );
  kms.dispose();
});

Deno.test("QuickJS: refresh?ifDue follows the rotation policy; expired keys get 410 and leave the list", async () => {
  const kms = await kmsWithPolicies();
  kms.govWrite(rotationTable.map, rotationTable.key, {
    version: 1,
    policy: { rotation_interval_seconds: 1, grace_period_seconds: 1 },
  });
  assert.equal(kms.call("POST", "/app/refresh", { query: "ifDue=true" }).json.created, true);
  const notDue = kms.call("POST", "/app/refresh", { query: "ifDue=true" }).json;
  assert.equal(notDue.created, false);
  assert.equal(typeof notDue.dueAt, "number");
  kms.signEverything();
  await new Promise((resolve) => setTimeout(resolve, 2100));
  const gone = kms.call("POST", "/app/key", { query: "kid=0", caller: jwt() });
  assert.equal(gone.status, 410);
  assert.equal(gone.json.error.code, "KeyExpired");
  assert.equal(kms.call("GET", "/listpubkeys").status, 404);
  assert.equal(kms.call("POST", "/app/refresh", { query: "ifDue=true" }).json.id, 1);
  kms.dispose();
});

Deno.test("QuickJS: the listing's caches are invisible: new keys appear once signed, old ones leave on time", async () => {
  const kms = await kmsWithPolicies();
  kms.govWrite(rotationTable.map, rotationTable.key, {
    version: 1,
    policy: { rotation_interval_seconds: 2, grace_period_seconds: 1 },
  });
  const listed = () =>
    kms.call("GET", "/listpubkeys").json.map((e: { publicKey: string }) => e.publicKey);
  const first = kms.call("POST", "/app/refresh", asMember).json;
  kms.signUpToNow();
  const cold = kms.call("GET", "/listpubkeys");
  const warm = kms.call("GET", "/listpubkeys");
  assert.deepEqual(cold.json.map((e: { publicKey: string }) => e.publicKey), [first.publicKey]);
  assert.deepEqual(warm.raw.body, cold.raw.body, "a warm answer is the same, byte for byte");
  assert.equal(warm.headers["content-type"], "application/json");
  const second = kms.call("POST", "/app/refresh", asMember).json;
  assert.deepEqual(listed(), [first.publicKey], "not advertised before its receipt exists");
  kms.signUpToNow();
  assert.deepEqual(listed(), [first.publicKey, second.publicKey]);
  // Both leave the listing the second their activity ends, though it was cached warm.
  const waitUntil = async (seconds: number) => {
    while (Date.now() < seconds * 1000) await new Promise((r) => setTimeout(r, 20));
  };
  await waitUntil(second.notAfter);
  assert.deepEqual(listed(), [second.publicKey], "only the newest in grace, none being active");
  await waitUntil(second.releaseUntil);
  assert.equal(kms.call("GET", "/listpubkeys").status, 404);
  kms.dispose();
});

Deno.test("QuickJS: a user's forced refresh is 403 Forbidden; refresh?ifDue=true is allowed", async () => {
  const kms = await kmsWithPolicies();
  const user = { caller: { policy: "user_cert", id: "user0" } };
  const forced = kms.call("POST", "/app/refresh", user);
  assert.equal(forced.status, 403);
  assert.equal(forced.json.error.code, "Forbidden");
  assert.match(forced.json.error.message, /only members may force a rotation/);
  assert.equal(
    kms.call("POST", "/app/refresh", { ...user, query: "ifDue=true" }).json.created,
    true,
  );
  kms.dispose();
});

Deno.test("QuickJS: explain shows each rule and the key /key would release, and releases nothing", async () => {
  const kms = await kmsWithPolicies();
  kms.call("POST", "/app/refresh", asMember);
  kms.signEverything();
  let before = kms.store.lastSeqno;
  const passing = kms.call("POST", "/app/explain", { caller: jwt() });
  assert.equal(kms.store.lastSeqno, before, "explaining writes nothing");
  assert.equal(passing.status, 200);
  assert.equal(passing.json.wouldRelease, true);
  assert.deepEqual(passing.json.decision, { status: 200 });
  assert.equal(passing.json.policyVersion, 1);
  assert.ok(
    passing.json.rules.length > 0 && passing.json.rules.every((r: { passed: boolean }) => r.passed),
  );
  assert.deepEqual(passing.json.key, { kid: 0, index: 0, state: "active" });
  assert.equal(kms.call("POST", "/app/key", { caller: jwt() }).status, 200, "and /key agrees");
  before = kms.store.lastSeqno;

  const failing = kms.call("POST", "/app/explain", {
    caller: jwt({ ...seedClaims, "x-ms-azurevm-osversion-major": 20 }),
  });
  assert.equal(failing.json.wouldRelease, false);
  assert.equal(failing.json.decision.status, 403);
  assert.equal(failing.json.decision.code, "PolicyDenied");
  const failed = failing.json.rules.filter((r: { passed: boolean }) => !r.passed);
  assert.deepEqual(failed.map((r: { rule: string }) => r.rule).sort(), ["claims", "gt", "gte"]);
  assert.equal(kms.store.lastSeqno, before, "explaining writes nothing");
  assert.equal(kms.call("POST", "/app/explain").status, 401, "a token is required");
  kms.dispose();
});

Deno.test("QuickJS: every JWT validation policy change is listed with its proposal", async () => {
  const kms = await createKms();
  assert.deepEqual(kms.call("GET", "/app/jwtValidationHistory").json, { changes: [] });
  kms.govWrite(jwtValidationTable.history, "p2", { issuer: "b", validation_policy: { iss: "b" } });
  kms.govWrite(jwtValidationTable.history, "p1", { issuer: "a", validation_policy: { iss: "a" } });
  assert.deepEqual(kms.call("GET", "/app/jwtValidationHistory").json.changes, [
    { proposalId: "p1", issuer: "a", validation_policy: { iss: "a" } },
    { proposalId: "p2", issuer: "b", validation_policy: { iss: "b" } },
  ]);
  kms.dispose();
});

Deno.test("QuickJS: policy views show defaults at version 0, then what governance set", async () => {
  const kms = await createKms();
  assert.deepEqual(kms.call("GET", "/app/keyReleasePolicy").json, {
    version: 0,
    policy: { claims: {}, gte: {}, gt: {} },
  });
  assert.equal(kms.call("GET", "/app/settingsPolicy").json.policy.service.debug, false);
  assert.equal(kms.call("GET", "/app/keyRotationPolicy").json.version, 0);
  kms.govWrite(keyReleaseTable.map, keyReleaseTable.key, SEED_STORED_POLICY);
  assert.deepEqual(kms.call("GET", "/app/keyReleasePolicy").json, SEED_STORED_POLICY);
  assert.equal(kms.call("GET", "/app/jwtValidationPolicy", { query: "issuer=x" }).status, 404);
  kms.dispose();
});

Deno.test("QuickJS: logs carry no key material and no token", async () => {
  const kms = await kmsWithPolicies();
  kms.call("POST", "/app/refresh", asMember);
  kms.signEverything();
  const r = kms.call("POST", "/app/key", {
    caller: jwt(),
    headers: { requestid: "12345678-1234-5678-1234-567812345678" },
  });
  assert.equal(r.status, 200);
  const all = kms.logs.join("\n");
  assert.match(all, /"endpoint":"key"/);
  assert.match(all, /12345678-1234-5678-1234-567812345678/);
  assert.doesNotMatch(all, new RegExp(r.json.key.slice(0, 24).replace(/[+/]/g, ".")));
  assert.doesNotMatch(all, new RegExp(String(tpmJwk.n).slice(0, 24)));
  kms.dispose();
});

Deno.test("QuickJS: reusing an expired key's id drops that key from the ring and deletes its private part", async () => {
  const kms = await kmsWithPolicies();
  kms.govWrite(rotationTable.map, rotationTable.key, {
    version: 1,
    policy: { rotation_interval_seconds: 1, grace_period_seconds: 0 },
  });
  for (let i = 0; i < 256; i++) assert.equal(kms.call("POST", "/app/refresh", asMember).json.id, i);
  await new Promise((resolve) => setTimeout(resolve, 1100));
  const privateOf = (index: number) =>
    kms.store.get(privateKeysTable.map, new TextEncoder().encode(String(index)));
  assert.ok(privateOf(0));
  // The new key must outlive the release below even when a slow machine crosses a second.
  kms.govWrite(rotationTable.map, rotationTable.key, {
    version: 2,
    policy: { rotation_interval_seconds: 3600, grace_period_seconds: 0 },
  });
  const reused = kms.call("POST", "/app/refresh", asMember).json;
  assert.deepEqual([reused.id, reused.index], [0, 256]);
  assert.equal(privateOf(0), undefined);
  assert.ok(privateOf(256));
  kms.signEverything();
  const released = kms.call("POST", "/app/key", { query: "kid=0", caller: jwt() });
  assert.equal(released.status, 200);
  const key = decodePrivateKeyCbor(unwrap(released.json.key));
  assert.ok(E.isRight(key));
  assert.equal(toHex(p384.getPublicKey(key.right.d, false)), reused.publicKey.slice(6, 6 + 194));
  kms.dispose();
});

Deno.test("QuickJS: every policy version stays readable with ?version=N, with its proposal and transaction", async () => {
  const kms = await createKms();
  const v1 = { ...SEED_STORED_POLICY, proposalId: "p1" };
  const v2 = {
    version: 2,
    policy: { ...SEED_STORED_POLICY.policy, claims: { "x-ms-ver": ["1.0"] } },
    proposalId: "p2",
  };
  kms.govWrite(keyReleaseTable.history, "1", v1);
  kms.govWrite(keyReleaseTable.history, "2", v2);
  kms.govWrite(keyReleaseTable.map, keyReleaseTable.key, { version: 2, policy: v2.policy });
  // Each version with the transaction that wrote it (governance's, when a proposal applies).
  assert.deepEqual(kms.call("GET", "/app/keyReleasePolicy", { query: "version=1" }).json, {
    ...v1,
    transactionId: "2.1",
  });
  assert.deepEqual(kms.call("GET", "/app/keyReleasePolicy", { query: "version=2" }).json, {
    ...v2,
    transactionId: "2.2",
  });
  assert.deepEqual(kms.call("GET", "/app/keyReleasePolicy").json, {
    version: 2,
    policy: v2.policy,
  });
  const missing = kms.call("GET", "/app/keyReleasePolicy", { query: "version=3" });
  assert.equal(missing.status, 404);
  assert.match(missing.json.error.message, /version 3/);
  for (const bad of ["version=0", "version=x", "version=01"]) {
    assert.equal(kms.call("GET", "/app/settingsPolicy", { query: bad }).status, 400, bad);
  }
  kms.govWrite(rotationTable.history, "1", {
    version: 1,
    policy: { rotation_interval_seconds: "x" },
    proposalId: "p",
  });
  assert.equal(kms.call("GET", "/app/keyRotationPolicy", { query: "version=1" }).status, 500);
  kms.dispose();
});
