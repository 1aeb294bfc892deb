/**
 * CCF's JWT key auto-refresh in the sandbox: keys fetched from an HTTPS issuer with a CA of its
 * own replace the issuer's keys without a proposal; whatever goes wrong (another CA, a bad
 * status, a bad JWKS) keeps the keys in force and is logged; unchanged keys are not written
 * again; and a node refreshes as soon as an issuer is set.
 */
import assert from "node:assert/strict";
import { KvStore, type KvTransaction } from "../../../../ccf/sandbox/kv.ts";
import {
  caCertBundles,
  jwtIssuers,
  type JwtSigningKey,
  jwtSigningKeys,
} from "../../../../ccf/sandbox/govTables.ts";
import { JwtKeyRefresher, type JwtRefreshTarget } from "../../../../ccf/sandbox/node/jwtRefresh.ts";
import {
  createNodeCertificate,
  createServiceCertificate,
  generateP384KeyPair,
} from "../../../../ccf/sandbox/node/certificates.ts";
import { startTestSandbox, tempWorkspace } from "./_harness.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A CA and a server certificate it issued for 127.0.0.1 and localhost. */
const makeCa = async (name: string) => {
  const now = Date.now();
  const ca = await generateP384KeyPair();
  const caCert = await createServiceCertificate(ca.keys, now, 1, `CN=${name}`);
  const server = await generateP384KeyPair();
  const serverCert = await createNodeCertificate(
    server.keys.publicKey,
    { keys: ca.keys, certPem: caCert.pem },
    now,
    1,
    "CN=test issuer",
  );
  return { caPem: caCert.pem, certPem: serverCert.pem, keyPem: server.privateKeyPem };
};

/** A signing key as an issuer publishes it. */
const signingJwk = async (kid: string) => {
  const pair = await crypto.subtle.generateKey(
    { name: "ECDSA", namedCurve: "P-256" },
    true,
    ["sign", "verify"],
  );
  const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", pair.publicKey);
  return { kty, crv, x, y, kid };
};

interface TestIssuer {
  readonly url: string;
  readonly caPem: string;
  /** What `/keys` answers next. */
  jwks: unknown;
  /** The status of every answer (200 unless a test says otherwise). */
  status: number;
  /** Where the metadata says the keys are. */
  jwksUri: string;
  stop(): Promise<void>;
}

/** An OpenID issuer over HTTPS, its certificate issued by its own CA. */
const startIssuer = async (): Promise<TestIssuer> => {
  const tls = await makeCa("Test issuer CA");
  let url = "";
  const issuer: TestIssuer = {
    url: "",
    caPem: tls.caPem,
    jwks: { keys: [await signingJwk("kid-1")] },
    status: 200,
    jwksUri: "",
    stop: () => server.shutdown(),
  };
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: tls.certPem,
    key: tls.keyPem,
    onListen: () => {},
  }, (request) => {
    const { pathname } = new URL(request.url);
    const body = pathname === "/.well-known/openid-configuration"
      ? { issuer: url, jwks_uri: issuer.jwksUri }
      : pathname === "/keys"
      ? issuer.jwks
      : undefined;
    if (body === undefined) return new Response("not found", { status: 404 });
    return new Response(typeof body === "string" ? body : JSON.stringify(body), {
      status: issuer.status,
      headers: { "content-type": "application/json" },
    });
  });
  url = `https://127.0.0.1:${server.addr.port}`;
  Object.assign(issuer, { url, jwksUri: `${url}/keys` });
  return issuer;
};

/** The refresher over a bare KV store, as over a node's. */
const storeTarget = (store: KvStore): JwtRefreshTarget & { commits: number } => {
  const target = {
    commits: 0,
    readTransaction: () => store.begin(),
    commitGovernance: (fn: (tx: KvTransaction) => void) => {
      const tx = store.begin();
      fn(tx);
      const commit = store.commit(tx);
      if (commit) target.commits++;
      return commit;
    },
  };
  return target;
};

const trust = (
  tx: KvTransaction,
  issuer: string,
  caPem: string,
  { autoRefresh = true, bundle = "issuer_ca" } = {},
) => {
  tx.set(
    jwtIssuers,
    enc.encode(issuer),
    enc.encode(JSON.stringify({
      issuer,
      auto_refresh: autoRefresh,
      ...(autoRefresh ? { ca_cert_bundle_name: bundle } : {}),
    })),
  );
  tx.set(caCertBundles, enc.encode("issuer_ca"), enc.encode(JSON.stringify(caPem)));
};

const keysIn = (tx: KvTransaction): Record<string, JwtSigningKey[]> => {
  const keys: Record<string, JwtSigningKey[]> = {};
  tx.forEach(jwtSigningKeys, (value, kid) => keys[dec.decode(kid)] = JSON.parse(dec.decode(value)));
  return keys;
};

/** A store trusting the issuer, a refresher over it, and its log. */
const setUp = async (options: { autoRefresh?: boolean; bundle?: string; caPem?: string } = {}) => {
  const issuer = await startIssuer();
  const store = new KvStore();
  const target = storeTarget(store);
  target.commitGovernance((tx) => trust(tx, issuer.url, options.caPem ?? issuer.caPem, options));
  target.commits = 0;
  const log: string[] = [];
  const refresher = new JwtKeyRefresher(target, { intervalS: 3600, log: (l) => log.push(l) });
  return { issuer, store, target, log, refresher };
};

Deno.test("jwt refresh: keys fetched over HTTPS with the issuer's CA replace the issuer's keys", async () => {
  const { issuer, store, target, log, refresher } = await setUp();
  try {
    const [first] = await refresher.refresh();
    assert.equal(first.ok, true, JSON.stringify(first));
    const stored = keysIn(store.begin());
    assert.deepEqual(Object.keys(stored), ["kid-1"]);
    // The metadata's issuer constrains the keys that name none, as on CCF.
    assert.equal(stored["kid-1"][0].issuer, issuer.url);
    assert.equal(stored["kid-1"][0].constraint, issuer.url);
    assert.equal(target.commits, 1);
    assert.match(log.join("\n"), /stored 1 signing key\(s\) of issuer .* \(kid kid-1\) at 2\.\d+/);

    // The same keys again: nothing is written.
    const [again] = await refresher.refresh();
    assert.deepEqual(again, { issuer: issuer.url, ok: true, kids: ["kid-1"] });
    assert.equal(target.commits, 1);

    // The issuer rotates: the old kid goes, the new one comes, in one transaction.
    issuer.jwks = { keys: [await signingJwk("kid-2")] };
    const [rotated] = await refresher.refresh();
    assert.equal(rotated.ok && rotated.txId !== undefined, true, JSON.stringify(rotated));
    assert.deepEqual(Object.keys(keysIn(store.begin())), ["kid-2"]);
    assert.equal(target.commits, 2);
  } finally {
    await refresher.stop();
    await issuer.stop();
  }
});

Deno.test("jwt refresh: another CA, a failed fetch or a bad JWKS keeps the keys and is logged", async (t) => {
  const { issuer, store, log, refresher } = await setUp();
  try {
    await refresher.refresh();
    const before = keysIn(store.begin());
    assert.deepEqual(Object.keys(before), ["kid-1"]);

    const keptAfter = async (what: string, reason: RegExp) => {
      log.length = 0;
      const [outcome] = await refresher.refresh();
      assert.equal(outcome.ok, false, `${what}: ${JSON.stringify(outcome)}`);
      assert.match(!outcome.ok ? outcome.reason : "", reason, what);
      assert.deepEqual(keysIn(store.begin()), before, `${what}: the keys are kept`);
      assert.equal(log.length, 1, what);
      assert.match(log[0], /^error: JWT key auto-refresh: keys of issuer '.*' kept: /, what);
    };

    await t.step("a bundle of another CA", async () => {
      const other = await makeCa("Another CA");
      store.commit((() => {
        const tx = store.begin();
        tx.set(caCertBundles, enc.encode("issuer_ca"), enc.encode(JSON.stringify(other.caPem)));
        return tx;
      })());
      issuer.jwks = { keys: [await signingJwk("kid-other")] };
      await keptAfter("another CA", /cannot fetch the OpenID metadata at https:\/\/127\.0\.0\.1/);
      store.commit((() => {
        const tx = store.begin();
        tx.set(caCertBundles, enc.encode("issuer_ca"), enc.encode(JSON.stringify(issuer.caPem)));
        return tx;
      })());
    });

    await t.step("an error status", async () => {
      issuer.status = 503;
      await keptAfter("503", /the OpenID metadata at .* answered 503/);
      issuer.status = 200;
    });

    await t.step("a JWKS that is not JSON, empty, or holds an unusable key", async () => {
      issuer.jwks = "{not json";
      await keptAfter("not JSON", /the JWKS at .* is not JSON/);
      issuer.jwks = { keys: [] };
      await keptAfter("no keys", /the JWKS has no keys/);
      issuer.jwks = { keys: [{ kid: "broken", kty: "RSA", n: "AQAB" }] };
      await keptAfter("unusable key", /the JWKS is not usable: JWT signing key broken/);
      issuer.jwks = { keys: [{ ...await signingJwk("elsewhere"), issuer: "https://example.org" }] };
      await keptAfter("foreign constraint", /not in the domain of/);
    });

    await t.step("keys that are not served over https", async () => {
      issuer.jwksUri = issuer.jwksUri.replace("https:", "http:");
      await keptAfter("http jwks_uri", /cannot fetch the JWKS at http:.*: not an https URL/);
    });
  } finally {
    await refresher.stop();
    await issuer.stop();
  }
});

Deno.test("jwt refresh: issuers without auto_refresh are left alone; a missing bundle is logged", async () => {
  const manual = await setUp({ autoRefresh: false });
  try {
    assert.deepEqual(await manual.refresher.refresh(), []);
    assert.deepEqual(keysIn(manual.store.begin()), {});
  } finally {
    await manual.refresher.stop();
    await manual.issuer.stop();
  }
  const unbundled = await setUp({ bundle: "missing" });
  try {
    const [outcome] = await unbundled.refresher.refresh();
    assert.deepEqual(outcome, {
      issuer: unbundled.issuer.url,
      ok: false,
      reason: "CA cert bundle with name 'missing' not found",
    });
    assert.equal(unbundled.log.length, 1);
  } finally {
    await unbundled.refresher.stop();
    await unbundled.issuer.stop();
  }
});

Deno.test("jwt refresh: a node fetches an issuer's keys as soon as governance sets it", async () => {
  const issuer = await startIssuer();
  const ws = await tempWorkspace();
  const lines: string[] = [];
  const sandbox = await startTestSandbox(ws.dir, { log: (l) => lines.push(l) });
  try {
    sandbox.node.commitGovernance((tx) => trust(tx, issuer.url, issuer.caPem));
    const deadline = Date.now() + 10_000;
    while (sandbox.node.read(jwtSigningKeys, "kid-1") === undefined) {
      assert.ok(Date.now() < deadline, `no refresh after the issuer was set:\n${lines.join("\n")}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(lines.some((l) => l.startsWith("JWT key auto-refresh: stored 1 signing key(s)")));
  } finally {
    await sandbox.stop();
    await issuer.stop();
    await ws.remove();
  }
});
