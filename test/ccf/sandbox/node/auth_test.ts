import assert from "node:assert/strict";
import { generateKeyPairSync, sign } from "node:crypto";
import { exportSPKI, generateKeyPair, SignJWT } from "jose";
import { base64, base64urlnopad } from "@scure/base";
import { authenticate, type AuthInput, JWT_CHALLENGE } from "../../../../ccf/sandbox/node/auth.ts";
import { satisfiesConstraint } from "../../../../ccf/sandbox/node/jwt.ts";
import {
  type Certificate,
  certificateId,
  certificatePem,
  createIdentityCertificate,
  generateP384KeyPair,
} from "../../../../ccf/sandbox/node/certificates.ts";
import {
  jwtIssuers,
  jwtSigningKeys,
  membersCerts,
  membersInfo,
  usersCerts,
  usersInfo,
} from "../../../../ccf/sandbox/govTables.ts";
import type { KvLookup } from "../../../../ccf/sandbox/node/types.ts";

const encoder = new TextEncoder();
const NOW = Math.floor(Date.now() / 1000);
const ISSUER = "https://attest.example";

const certificate = async (name: string, notBeforeMs = Date.now(), days = 10) =>
  createIdentityCertificate((await generateP384KeyPair()).keys, name, notBeforeMs, days);

/** A KV of governance tables, keyed `map\0key`. */
const kvOf = (entries: [string, string, unknown][]): KvLookup => {
  const m = new Map(
    entries.map(([map, key, value]) => [
      `${map}\0${key}`,
      encoder.encode(typeof value === "string" ? value : JSON.stringify(value)),
    ]),
  );
  return (map, key) => m.get(`${map}\0${key}`);
};

const setup = async () => {
  const user = await certificate("user0");
  const member = await certificate("member0");
  const newcomer = await certificate("member1");
  const rsa = await generateKeyPair("RS256");
  const spki = (await exportSPKI(rsa.publicKey)).replace(/-----[^-]+-----|\s/g, "");
  const kv = kvOf([
    [usersCerts, certificateId(user.der), user.pem],
    [usersInfo, certificateId(user.der), { user_data: { team: "a" } }],
    [membersCerts, certificateId(member.der), member.pem],
    [membersInfo, certificateId(member.der), { status: "Active", member_data: { role: "op" } }],
    [membersCerts, certificateId(newcomer.der), newcomer.pem],
    [membersInfo, certificateId(newcomer.der), { status: "Accepted" }],
    [jwtIssuers, ISSUER, { auto_refresh: false }],
    [jwtSigningKeys, "k1", [{ public_key: spki, issuer: ISSUER }]],
    [jwtSigningKeys, "orphan", [{ public_key: spki, issuer: "https://removed.example" }]],
    [jwtSigningKeys, "constrained", [{ public_key: spki, issuer: ISSUER, constraint: ISSUER }]],
  ]);
  const jwt = (kid: string, claims: Record<string, unknown> = {}) =>
    new SignJWT({ iss: ISSUER, nbf: NOW - 10, exp: NOW + 100, ...claims })
      .setProtectedHeader({ alg: "RS256", kid })
      .sign(rsa.privateKey);
  return { user, member, newcomer, kv, jwt };
};

const input = (
  kv: KvLookup,
  options: { cert?: Certificate; authorization?: string } = {},
): AuthInput => ({
  headers: options.authorization
    ? { authorization: options.authorization }
    : {} as Record<string, string>,
  clientCert: options.cert?.der,
  kv,
  now: NOW,
});

const refusal = (r: ReturnType<typeof authenticate>) => {
  assert.equal(r.ok, false);
  if (r.ok) throw new Error("unreachable");
  return {
    status: r.response.status,
    headers: r.response.headers,
    body: JSON.parse(new TextDecoder().decode(r.response.body)),
  };
};

Deno.test("auth: no policies give a null caller; certificates give CCF's caller objects", async () => {
  const { user, member, kv } = await setup();
  assert.deepEqual(authenticate([], input(kv)), { ok: true, caller: null });
  assert.deepEqual(authenticate(undefined, input(kv)), { ok: true, caller: null });
  assert.deepEqual(authenticate(["no_auth"], input(kv)), {
    ok: true,
    caller: { policy: "no_auth" },
  });
  assert.deepEqual(authenticate(["member_cert", "user_cert"], input(kv, { cert: user })), {
    ok: true,
    caller: {
      policy: "user_cert",
      id: certificateId(user.der),
      data: { team: "a" },
      cert: user.pem,
    },
  });
  assert.deepEqual(authenticate(["user_cert", "member_cert"], input(kv, { cert: member })), {
    ok: true,
    caller: {
      policy: "member_cert",
      id: certificateId(member.der),
      data: { role: "op" },
      cert: member.pem,
    },
  });
  assert.deepEqual(authenticate(["any_cert"], input(kv, { cert: member })), {
    ok: true,
    caller: { policy: "any_cert", cert: certificatePem(member.der) },
  });
});

Deno.test("auth: members must be Active; expired user certificates are refused", async () => {
  const { newcomer, kv } = await setup();
  const inactive = refusal(authenticate(["member_cert"], input(kv, { cert: newcomer })));
  assert.equal(inactive.status, 401);
  assert.match(inactive.body.error.details[0].message, /is not active \(status Accepted\)/);
  assert.equal(inactive.headers["www-authenticate"], undefined);

  const old = await certificate("user9", Date.now() - 40 * 24 * 3600 * 1000, 2);
  const oldKv = kvOf([[usersCerts, certificateId(old.der), old.pem]]);
  const expired = refusal(authenticate(["user_cert"], input(oldKv, { cert: old })));
  assert.match(
    expired.body.error.details[0].message,
    /after certificate's Not After validity period/,
  );
});

Deno.test("auth: JWT bearer tokens, CCF's messages, and all_of", async () => {
  const { user, kv, jwt } = await setup();
  const ok = authenticate(["jwt"], input(kv, { authorization: `Bearer ${await jwt("k1")}` }));
  assert.ok(ok.ok);
  if (!ok.ok) return;
  const caller = ok.caller as {
    policy: string;
    jwt: { keyIssuer: string; header: unknown; payload: { iss: string } };
  };
  assert.equal(caller.policy, "jwt");
  assert.equal(caller.jwt.keyIssuer, ISSUER);
  assert.deepEqual(caller.jwt.header, { alg: "RS256", kid: "k1" });
  assert.equal(caller.jwt.payload.iss, ISSUER);

  const message = (authorization?: string) => {
    const r = refusal(authenticate(["jwt"], input(kv, { authorization })));
    assert.equal(r.headers["www-authenticate"], JWT_CHALLENGE);
    return r.body.error.details[0].message as string;
  };
  assert.equal(message(), "Missing authorization header");
  assert.equal(message("Bearer"), "Authorization header only contains one field");
  assert.equal(message("Basic abc"), "Authorization header does not have Bearer scheme");
  assert.equal(message("Bearer a.b"), "Malformed JWT: must contain exactly 3 parts");
  assert.match(
    message(`Bearer ${await jwt("k1", { exp: undefined })}`),
    /missing required field: exp/,
  );
  assert.match(message(`Bearer ${await jwt("orphan")}`), /is not trusted/);
  assert.match(
    message(`Bearer ${await jwt("constrained", { iss: "https://other.example" })}`),
    /failed issuer constraint validation/,
  );
  const constrained = `Bearer ${await jwt("constrained")}`;
  assert.ok(authenticate(["jwt"], input(kv, { authorization: constrained })).ok);

  const bearer = `Bearer ${await jwt("k1")}`;
  const both = authenticate(
    [{ all_of: ["user_cert", "jwt"] }],
    input(kv, { cert: user, authorization: bearer }),
  );
  assert.ok(both.ok);
  if (both.ok) {
    const c = both.caller as Record<string, { policy: string }>;
    assert.deepEqual(c.policy, ["jwt", "user_cert"]);
    assert.equal(c.jwt.policy, "jwt");
    assert.equal(c.user_cert.policy, "user_cert");
  }
  const half = refusal(
    authenticate([{ all_of: ["user_cert", "jwt"] }], input(kv, { cert: user })),
  );
  assert.deepEqual(half.body.error.details, [{
    auth_policy: "jwt+user_cert",
    code: "InvalidAuthenticationInfo",
    message: "jwt:Missing authorization header",
  }]);
  assert.equal(half.headers["www-authenticate"], JWT_CHALLENGE);

  const unknown = authenticate(["magic"], input(kv));
  assert.equal(unknown.ok, false);
  if (!unknown.ok) assert.equal(unknown.response.status, 500);
});

Deno.test("auth: JWT signatures: RS256 and ES256, each only with its own kind of key", () => {
  const keys = {
    p256: generateKeyPairSync("ec", { namedCurve: "P-256" }),
    p384: generateKeyPairSync("ec", { namedCurve: "P-384" }),
    rsa: generateKeyPairSync("rsa", { modulusLength: 2048 }),
    rsa1024: generateKeyPairSync("rsa", { modulusLength: 1024 }),
  };
  const kv = kvOf([
    [jwtIssuers, ISSUER, { auto_refresh: false }],
    ...Object.entries(keys).map(([kid, k]): [string, string, unknown] => [
      jwtSigningKeys,
      kid,
      [{
        public_key: base64.encode(k.publicKey.export({ format: "der", type: "spki" })),
        issuer: ISSUER,
      }],
    ]),
  ]);
  const b64 = (v: unknown) => base64urlnopad.encode(encoder.encode(JSON.stringify(v)));
  const token = (alg: string, kid: keyof typeof keys, signWith = keys[kid].privateKey) => {
    const signed = `${b64({ alg, kid })}.${b64({ iss: ISSUER, exp: NOW + 100 })}`;
    // Signed as the header's algorithm says, as a forger would: r||s under ES256, DER otherwise.
    const ec = signWith.asymmetricKeyType === "ec" && alg === "ES256";
    const signature = sign(
      "sha256",
      encoder.encode(signed),
      ec ? { key: signWith, dsaEncoding: "ieee-p1363" } : signWith,
    );
    return `${signed}.${base64urlnopad.encode(signature)}`;
  };
  const outcome = (compact: string) =>
    authenticate(["jwt"], input(kv, { authorization: `Bearer ${compact}` }));
  const refused = (compact: string) =>
    refusal(outcome(compact)).body.error.details[0].message as string;

  assert.ok(outcome(token("ES256", "p256")).ok, "ES256 with a P-256 key");
  assert.ok(outcome(token("RS256", "rsa")).ok, "RS256 with an RSA key");
  const flipped = token("RS256", "rsa");
  const last = flipped.at(-2) === "A" ? "B" : "A";
  assert.equal(
    refused(`${flipped.slice(0, -2)}${last}${flipped.at(-1)}`),
    "Signature verification failed",
  );
  // The header's algorithm must fit the key: no ECDSA check under RS256, nor the reverse.
  assert.equal(refused(token("RS256", "p256")), "Signature verification failed");
  assert.equal(refused(token("ES256", "rsa")), "Signature verification failed");
  assert.equal(refused(token("ES256", "p384")), "Signature verification failed");
  // RSA keys under 2048 bits are refused, as jose refused them.
  assert.equal(refused(token("RS256", "rsa1024")), "Signature verification failed");
});

Deno.test("auth: issuer constraints follow CCF's Entra tenant rules", () => {
  assert.ok(satisfiesConstraint("https://a.example", undefined, "https://a.example"));
  assert.ok(!satisfiesConstraint("https://a.example", "t1", "https://a.example"));
  const entra = "https://login.microsoftonline.com/{tenantid}/v2.0";
  assert.ok(satisfiesConstraint("https://login.microsoftonline.com/t1/v2.0", "t1", entra));
  assert.ok(!satisfiesConstraint("https://login.microsoftonline.com/t1/v2.0", "t2", entra));
  assert.ok(!satisfiesConstraint("https://login.microsoftonline.com/t1/v2.0", undefined, entra));
});
