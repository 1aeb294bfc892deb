import assert from "node:assert/strict";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { base64 } from "@scure/base";
import * as E from "fp-ts/lib/Either.js";
import { createLocalJWKSet, decodeProtectedHeader, type JWTPayload, jwtVerify } from "jose";
import {
  applyClaimOverrides,
  type AttestationIssuer,
  type Claims,
  DEFAULT_ISSUER,
  MAX_QUERY_LENGTH,
  parseClaimOverrides,
  type SigningJwk,
  startAttestationIssuer,
} from "../../../../ccf/sandbox/standins/attestationIssuer.ts";
import { loadTpmKey, type TpmPublicJwk } from "../../../../ccf/sandbox/standins/tpmKey.ts";
import { wrappingKeyOf } from "../../../../core/attestation/wrappingKey.ts";

type Jwks = { keys: SigningJwk[] };

const withWorkspace = async (body: (workspace: string) => Promise<void>) => {
  const workspace = await Deno.makeTempDir({ prefix: "idp-test-" });
  try {
    await body(workspace);
  } finally {
    await Deno.remove(workspace, { recursive: true });
  }
};

const withIssuer = async (
  body: (issuer: AttestationIssuer, workspace: string, log: string[]) => Promise<void>,
  options: { issuer?: string; clock?: () => number } = {},
) => {
  await withWorkspace(async (workspace) => {
    const log: string[] = [];
    const issuer = await startAttestationIssuer({
      workspace,
      port: 0,
      log: (line) => log.push(line),
      ...options,
    });
    try {
      await body(issuer, workspace, log);
    } finally {
      await issuer.stop();
    }
  });
};

const fetchJson = async (url: string, init?: RequestInit) => {
  const response = await fetch(url, init);
  return { status: response.status, headers: response.headers, body: await response.json() };
};

const fetchToken = async (issuer: AttestationIssuer, query = ""): Promise<string> => {
  const { status, body } = await fetchJson(`${issuer.url}/token${query}`, { method: "POST" });
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.token_type, "bearer");
  assert.equal(typeof body.access_token, "string");
  return body.access_token;
};

const fetchJwks = async (issuer: AttestationIssuer): Promise<Jwks> => {
  const { status, body } = await fetchJson(`${issuer.url}/keys`);
  assert.equal(status, 200);
  return body;
};

/** Verifies a token as CCF would: signature against the JWKS, then nbf and exp, no skew. */
const verify = async (issuer: AttestationIssuer, token: string): Promise<JWTPayload> => {
  const jwks = createLocalJWKSet(await fetchJwks(issuer));
  const { payload } = await jwtVerify(token, jwks, { algorithms: ["RS256"] });
  return payload;
};

const tokenClaims = async (issuer: AttestationIssuer, query = ""): Promise<Claims> =>
  await verify(issuer, await fetchToken(issuer, query));

const tpmJwkOf = (claims: Claims): TpmPublicJwk => {
  const runtime = claims["x-ms-runtime"] as { keys: TpmPublicJwk[] };
  return runtime.keys[0];
};

Deno.test("a token verifies against the served JWKS and has the claims of an Azure CVM", async () => {
  const before = Math.floor(Date.now() / 1000);
  await withIssuer(async (issuer) => {
    assert.equal(issuer.issuer, DEFAULT_ISSUER);
    assert.match(issuer.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const token = await fetchToken(issuer);
    const header = decodeProtectedHeader(token);
    const jwks = await fetchJwks(issuer);
    assert.deepEqual(header, { alg: "RS256", kid: jwks.keys[0].kid, typ: "JWT" });

    const claims = await verify(issuer, token);
    const after = Math.floor(Date.now() / 1000);
    assert.equal(claims.iss, "http://Demo-jwt-issuer");
    assert.ok(typeof claims.iat === "number" && claims.iat >= before && claims.iat <= after);
    assert.equal(claims.nbf, claims.iat - 60);
    assert.equal(claims.exp, claims.iat + 3600);
    assert.equal(typeof claims.jti, "string");
    assert.equal(claims["x-ms-ver"], "1.0");
    assert.equal(claims["x-ms-attestation-type"], "azurevm");
    assert.equal(claims["x-ms-azurevm-debuggersdisabled"], true);
    assert.equal(claims["x-ms-azurevm-osversion-major"], 22);
    assert.equal(claims["secureboot"], true);
    assert.deepEqual(claims["x-ms-azurevm-attested-pcrs"], [...Array(16).keys()]);
    const tee = claims["x-ms-isolation-tee"] as Record<string, unknown>;
    assert.equal(tee["x-ms-attestation-type"], "sevsnpvm");
    assert.equal(tee["x-ms-compliance-status"], "azure-compliant-cvm");
    assert.equal(typeof tee["x-ms-sevsnpvm-is-debuggable"], "boolean");
    assert.equal(typeof tee["x-ms-sevsnpvm-vmpl"], "number");
    assert.match(tee["x-ms-sevsnpvm-launchmeasurement"] as string, /^[0-9a-f]{96}$/);

    const runtime = claims["x-ms-runtime"] as { keys: Record<string, unknown>[] };
    assert.equal(runtime.keys.length, 1);
    assert.deepEqual(Object.keys(runtime.keys[0]).sort(), ["e", "key_ops", "kid", "kty", "n"]);
    assert.equal(runtime.keys[0].kid, "TpmEphemeralEncryptionKey");
    assert.deepEqual(runtime.keys[0].key_ops, ["encrypt"]);
    // The KMS's own parser accepts the wrapping key as an RSA-2048 key.
    assert.ok(E.isRight(wrappingKeyOf(claims)));
  });
});

Deno.test("nbf and exp follow the issuer's clock", async () => {
  const now = Date.UTC(2030, 0, 1, 12) + 789;
  await withIssuer(async (issuer) => {
    const token = await fetchToken(issuer);
    const jwks = createLocalJWKSet(await fetchJwks(issuer));
    const at = (seconds: number) => new Date(seconds * 1000);
    const nowSeconds = Math.floor(now / 1000);
    const { payload } = await jwtVerify(token, jwks, { currentDate: at(nowSeconds) });
    assert.equal(payload.iat, nowSeconds);
    assert.equal(payload.nbf, nowSeconds - 60);
    assert.equal(payload.exp, nowSeconds + 3600);
    // CCF applies no clock skew: a token is usable a minute early, and not after an hour.
    await jwtVerify(token, jwks, { currentDate: at(nowSeconds - 60) });
    await assert.rejects(jwtVerify(token, jwks, { currentDate: at(nowSeconds - 61) }), {
      code: "ERR_JWT_CLAIM_VALIDATION_FAILED",
    });
    await assert.rejects(jwtVerify(token, jwks, { currentDate: at(nowSeconds + 3601) }), {
      code: "ERR_JWT_EXPIRED",
    });
  }, { clock: () => now });
});

Deno.test("the issuer's iss is configurable and advertised", async () => {
  await withIssuer(async (issuer) => {
    assert.equal(issuer.issuer, "https://demo.attest.example");
    assert.equal((await tokenClaims(issuer)).iss, "https://demo.attest.example");
    const { status, body } = await fetchJson(`${issuer.url}/.well-known/openid-configuration`);
    assert.equal(status, 200);
    assert.equal(body.issuer, "https://demo.attest.example");
    assert.equal(body.jwks_uri, `${issuer.url}/keys`);
  }, { issuer: "https://demo.attest.example" });
});

Deno.test("query parameters override claims: numbers, booleans, strings, nested, omit", async () => {
  await withIssuer(async (issuer) => {
    const query = "?x-ms-azurevm-osversion-major=21" +
      "&x-ms-azurevm-debuggersdisabled=false" +
      "&x-ms-ver=%222.0%22" +
      "&x-ms-azurevm-osdistro=Azure%20Linux" +
      "&x-ms-isolation-tee.x-ms-compliance-status=foo" +
      "&x-ms-azurevm-attested-pcrs=[0,1,7]" +
      "&x-ms-runtime.client-payload=%7B%22nonce%22%3A%22abc%22%7D" +
      "&omit=secureboot";
    const claims = await tokenClaims(issuer, query);
    assert.equal(claims["x-ms-azurevm-osversion-major"], 21);
    assert.equal(claims["x-ms-azurevm-debuggersdisabled"], false);
    assert.equal(claims["x-ms-ver"], "2.0");
    assert.equal(claims["x-ms-azurevm-osdistro"], "Azure Linux");
    assert.deepEqual(claims["x-ms-azurevm-attested-pcrs"], [0, 1, 7]);
    assert.ok(!("secureboot" in claims));
    const tee = claims["x-ms-isolation-tee"] as Record<string, unknown>;
    assert.equal(tee["x-ms-compliance-status"], "foo");
    // Siblings of an overridden nested claim stay.
    assert.equal(tee["x-ms-attestation-type"], "sevsnpvm");
    const runtime = claims["x-ms-runtime"] as Record<string, unknown>;
    assert.deepEqual(runtime["client-payload"], { nonce: "abc" });
    assert.equal((runtime.keys as unknown[]).length, 1);
  });
});

Deno.test("omit=x-ms-runtime gives a token without the wrapping key", async () => {
  await withIssuer(async (issuer) => {
    const claims = await tokenClaims(issuer, "?omit=x-ms-runtime");
    assert.ok(!("x-ms-runtime" in claims));
    assert.ok(E.isLeft(wrappingKeyOf(claims)));
    const several = await tokenClaims(
      issuer,
      "?omit=x-ms-ver,x-ms-isolation-tee.x-ms-sevsnpvm-vmpl",
    );
    assert.ok(!("x-ms-ver" in several));
    assert.ok(!("x-ms-sevsnpvm-vmpl" in (several["x-ms-isolation-tee"] as Claims)));
  });
});

Deno.test("standard claims are overridable too, e.g. an already expired token", async () => {
  await withIssuer(async (issuer) => {
    const token = await fetchToken(issuer, "?nbf=0&exp=1000&iss=%22https%3A%2F%2Fother%22");
    const jwks = createLocalJWKSet(await fetchJwks(issuer));
    await assert.rejects(jwtVerify(token, jwks), { code: "ERR_JWT_EXPIRED" });
    const { payload } = await jwtVerify(token, jwks, { currentDate: new Date(999_000) });
    assert.equal(payload.iss, "https://other");
  });
});

Deno.test("bad overrides and oversized queries are rejected", async () => {
  await withIssuer(async (issuer) => {
    const post = (query: string) => fetchJson(`${issuer.url}/token${query}`, { method: "POST" });
    const through = await post("?x-ms-ver.inner=1");
    assert.equal(through.status, 400);
    assert.equal(through.body.error.code, "InvalidClaimOverride");
    assert.match(through.body.error.message, /"x-ms-ver" is not an object/);
    assert.equal((await post("?__proto__.polluted=1")).status, 400);
    assert.equal((await post("?a..b=1")).status, 400);
    assert.equal((await post("?omit=")).status, 400);
    assert.equal((await post(`?${"a.".repeat(8)}a=1`)).status, 400);
    const many = Array.from({ length: 65 }, (_, i) => `c${i}=1`).join("&");
    assert.equal((await post(`?${many}`)).status, 400);
    const long = await post(`?x=${"y".repeat(MAX_QUERY_LENGTH)}`);
    assert.equal(long.status, 414);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

Deno.test("unknown paths are 404 and wrong methods 405, as JSON errors", async () => {
  await withIssuer(async (issuer, _workspace, log) => {
    const missing = await fetchJson(`${issuer.url}/nope`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, "NotFound");
    const getToken = await fetchJson(`${issuer.url}/token`);
    assert.equal(getToken.status, 405);
    assert.equal(getToken.headers.get("allow"), "POST");
    const postKeys = await fetchJson(`${issuer.url}/keys`, { method: "POST", body: "x" });
    assert.equal(postKeys.status, 405);
    assert.equal(postKeys.headers.get("allow"), "GET");
    assert.deepEqual(log, ["GET /nope 404", "GET /token 405", "POST /keys 405"]);
  });
});

Deno.test("the request log has one line per request and no token or key material", async () => {
  await withIssuer(async (issuer, _workspace, log) => {
    const token = await fetchToken(issuer, "?x-ms-azurevm-vmid=secret-looking-value");
    const jwks = await fetchJwks(issuer);
    const tpm = tpmJwkOf(await verify(issuer, token));
    assert.deepEqual(log.slice(0, 2), ["POST /token 200", "GET /keys 200"]);
    const text = log.join("\n");
    for (const secret of [token, token.split(".")[2], jwks.keys[0].n, tpm.n, "secret-looking"]) {
      assert.ok(!text.includes(secret));
    }
  });
});

Deno.test("the JWKS has n/e and an x5c certificate for the same key", async () => {
  await withIssuer(async (issuer) => {
    const { keys } = await fetchJwks(issuer);
    assert.equal(keys.length, 1);
    const [key] = keys;
    assert.equal(key.kty, "RSA");
    assert.equal(key.alg, "RS256");
    assert.equal(key.use, "sig");
    assert.equal(typeof key.kid, "string");
    assert.equal(key.x5c.length, 1);

    const certificate = new x509.X509Certificate(Uint8Array.from(base64.decode(key.x5c[0])));
    assert.ok(await certificate.isSelfSigned());
    assert.ok(certificate.notBefore.getTime() <= Date.now());
    assert.ok(certificate.notAfter.getTime() > Date.now() + 300 * 24 * 3600 * 1000);
    const publicKey = await certificate.publicKey.export(
      { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
      ["verify"],
    );
    const jwk = await crypto.subtle.exportKey("jwk", publicKey);
    assert.equal(jwk.n, key.n);
    assert.equal(jwk.e, key.e);

    // A token verifies with the certificate's key alone, which is all CCF 5 keeps.
    const token = await fetchToken(issuer);
    await jwtVerify(token, publicKey);
  });
});

Deno.test("a restart on the same workspace keeps the signing key, certificate and TPM key", async () => {
  await withWorkspace(async (workspace) => {
    const first = await startAttestationIssuer({ workspace, port: 0 });
    let jwks: Jwks;
    let firstToken: string;
    try {
      jwks = await fetchJwks(first);
      firstToken = await fetchToken(first);
    } finally {
      await first.stop();
    }
    const second = await startAttestationIssuer({ workspace, port: 0 });
    try {
      assert.deepEqual(await fetchJwks(second), jwks);
      const before = tpmJwkOf(await verify(second, firstToken));
      const after = tpmJwkOf(await tokenClaims(second));
      assert.deepEqual(after, before);
      assert.deepEqual((await loadTpmKey(workspace)).publicJwk, after);
    } finally {
      await second.stop();
    }
  });
});

Deno.test("different workspaces have different signing kids", async () => {
  await withIssuer(async (a) => {
    await withIssuer(async (b) => {
      assert.notEqual((await fetchJwks(a)).keys[0].kid, (await fetchJwks(b)).keys[0].kid);
    });
  });
});

Deno.test("end to end: a key wrapped to the token's TPM key unwraps in the workspace", async () => {
  await withIssuer(async (issuer, workspace) => {
    const jwk = tpmJwkOf(await tokenClaims(issuer));
    const plaintext = crypto.getRandomValues(new Uint8Array(158));
    const key = await crypto.subtle.importKey(
      "jwk",
      jwk,
      { name: "RSA-OAEP", hash: "SHA-256" },
      false,
      ["encrypt"],
    );
    const wrapped = base64.encode(
      new Uint8Array(await crypto.subtle.encrypt({ name: "RSA-OAEP" }, key, plaintext)),
    );
    const tpm = await loadTpmKey(workspace);
    assert.deepEqual(await tpm.unwrap(wrapped), plaintext);
    const tampered = wrapped.startsWith("A") ? `B${wrapped.slice(1)}` : `A${wrapped.slice(1)}`;
    await assert.rejects(tpm.unwrap(tampered));
  });
});

Deno.test("stop is idempotent and the port is released", async () => {
  await withWorkspace(async (workspace) => {
    const issuer = await startAttestationIssuer({ workspace, port: 0 });
    const port = Number(new URL(issuer.url).port);
    await Promise.all([issuer.stop(), issuer.stop()]);
    await issuer.stop();
    const again = await startAttestationIssuer({ workspace, port });
    await again.stop();
  });
});

Deno.test("parseClaimOverrides: JSON values, strings, dotted paths, sets before omits", () => {
  const parsed = parseClaimOverrides(
    new URLSearchParams("omit=a&n=1.0&s=1.0.1&q=%221%22&t=true&o={}&nul=null&x.y=z"),
  );
  assert.ok(E.isRight(parsed));
  assert.deepEqual(parsed.right, [
    { kind: "set", path: ["n"], value: 1 },
    { kind: "set", path: ["s"], value: "1.0.1" },
    { kind: "set", path: ["q"], value: "1" },
    { kind: "set", path: ["t"], value: true },
    { kind: "set", path: ["o"], value: {} },
    { kind: "set", path: ["nul"], value: null },
    { kind: "set", path: ["x", "y"], value: "z" },
    { kind: "omit", path: ["a"] },
  ]);
  assert.ok(E.isLeft(parseClaimOverrides(new URLSearchParams("constructor.prototype.x=1"))));
});

Deno.test("applyClaimOverrides: creates objects, indexes arrays, leaves the input alone", () => {
  const base: Claims = { a: { b: 1 }, list: [{ kid: "k" }], s: "text" };
  const apply = (query: string) => {
    const overrides = parseClaimOverrides(new URLSearchParams(query));
    assert.ok(E.isRight(overrides));
    return applyClaimOverrides(base, overrides.right);
  };
  assert.deepEqual(
    apply("new.deep.claim=1&a.c=2&list.0.kid=other&list.1=3"),
    E.right({
      a: { b: 1, c: 2 },
      list: [{ kid: "other" }, 3],
      s: "text",
      new: { deep: { claim: 1 } },
    }),
  );
  assert.deepEqual(apply("omit=list.0,a.b,missing.x,s.y"), E.right({ a: {}, list: [], s: "text" }));
  assert.ok(E.isLeft(apply("list.5=1")));
  assert.ok(E.isLeft(apply("list.x=1")));
  assert.ok(E.isLeft(apply("s.y=1")));
  assert.deepEqual(base, { a: { b: 1 }, list: [{ kid: "k" }], s: "text" });
});

Deno.test("a certificate near its end is renewed at start-up; the key and kid stay", async () => {
  await withWorkspace(async (workspace) => {
    const start = async (now: number) => {
      const issuer = await startAttestationIssuer({ workspace, port: 0, clock: () => now });
      try {
        return (await fetchJwks(issuer)).keys[0];
      } finally {
        await issuer.stop();
      }
    };
    const now = Date.now();
    const first = await start(now);
    const later = now + 400 * 24 * 3600 * 1000;
    const renewed = await start(later);
    assert.equal(renewed.kid, first.kid);
    assert.equal(renewed.n, first.n);
    assert.notEqual(renewed.x5c[0], first.x5c[0]);
    const certificate = new x509.X509Certificate(Uint8Array.from(base64.decode(renewed.x5c[0])));
    assert.ok(certificate.notBefore.getTime() <= later && certificate.notAfter.getTime() > later);
    assert.deepEqual(await start(later), renewed);
  });
});

Deno.test("rotation: later tokens are signed by a new key, which alone is served and kept", async () => {
  await withIssuer(async (issuer, workspace) => {
    const before = await fetchToken(issuer);
    const oldKid = issuer.kid;
    const { status, body } = await fetchJson(`${issuer.url}/rotate`, { method: "POST" });
    assert.equal(status, 200);
    assert.notEqual(body.kid, oldKid);
    assert.equal(issuer.kid, body.kid);

    const jwks = await fetchJwks(issuer);
    assert.deepEqual(jwks.keys.map((k) => k.kid), [body.kid]);
    const after = await fetchToken(issuer);
    assert.equal(decodeProtectedHeader(after).kid, body.kid);
    await verify(issuer, after);
    await assert.rejects(
      verify(issuer, before),
      "a token of the old key fails against the new JWKS",
    );

    const restarted = await startAttestationIssuer({ workspace, port: 0 });
    try {
      assert.equal(restarted.kid, body.kid, "a restart serves the rotated key");
    } finally {
      await restarted.stop();
    }
  });
});

Deno.test("tls: OpenID metadata and keys over HTTPS from the issuer's own CA; the issuer is its URL", async () => {
  await withWorkspace(async (workspace) => {
    const issuer = await startAttestationIssuer({ workspace, port: 0, tls: true });
    const client = Deno.createHttpClient({ caCerts: [issuer.ca!.certPem] });
    try {
      assert.match(issuer.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(issuer.issuer, issuer.url);
      assert.equal(await Deno.readTextFile(issuer.ca!.path), issuer.ca!.certPem);
      const ca = new x509.X509Certificate(issuer.ca!.certPem);
      assert.equal(ca.getExtension(x509.BasicConstraintsExtension)?.ca, true);

      const metadata = await (await fetch(`${issuer.url}/.well-known/openid-configuration`, {
        client,
      })).json();
      assert.equal(metadata.issuer, issuer.url);
      assert.equal(metadata.jwks_uri, `${issuer.url}/keys`);
      const jwks = await (await fetch(metadata.jwks_uri, { client })).json();
      assert.deepEqual(jwks.keys.map((k: SigningJwk) => k.kid), [issuer.kid]);
      const token = await (await fetch(`${issuer.url}/token`, { method: "POST", client })).json();
      const { payload } = await jwtVerify(token.access_token, createLocalJWKSet(jwks));
      assert.equal(payload.iss, issuer.url);
    } finally {
      client.close();
      await issuer.stop();
    }

    const again = await startAttestationIssuer({ workspace, port: 0, tls: true });
    try {
      assert.equal(again.ca!.certPem, issuer.ca!.certPem, "the CA is kept across restarts");
    } finally {
      await again.stop();
    }
    await assert.rejects(
      startAttestationIssuer({ workspace, port: 0, tls: true, hostname: "0.0.0.0" }),
      /an HTTPS issuer listens on 127\.0\.0\.1 or localhost/,
    );
  });
});
