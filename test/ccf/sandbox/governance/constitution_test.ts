import assert from "node:assert/strict";
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import { init, parse } from "es-module-lexer";
import { DEFAULT_CONSTITUTION } from "../../../../ccf/sandbox/governance/constitution/mod.ts";
import { ConstitutionRunner } from "../../../../ccf/sandbox/governance/runner.ts";
import {
  caCertBundles,
  endpoints,
  jwtIssuers,
  jwtSigningKeys,
  membersInfo,
  modules,
  usersCerts,
  usersInfo,
} from "../../../../ccf/sandbox/govTables.ts";
import { KvStore, type KvTransaction } from "../../../../ccf/sandbox/kv.ts";
import { readAppBundle, readRuntimeOptions } from "../../../../ccf/sandbox/node/appTables.ts";
import { sharedEngine } from "../../../../ccf/sandbox/quickjs/engine.ts";
import { createAppRuntime } from "../../../../ccf/sandbox/quickjs/mod.ts";
import { kmsArtefacts, newMember, proposal, registerMembers, text, utf8 } from "./_harness.ts";

const runner = new ConstitutionRunner(await sharedEngine());

const fresh = (): { store: KvStore; tx: KvTransaction } => {
  const store = new KvStore();
  return { store, tx: store.begin() };
};

const validate = (tx: KvTransaction, body: string, constitution = DEFAULT_CONSTITUTION) => {
  const r = runner.validate(tx, constitution, body);
  assert.ok(r.ok, JSON.stringify(r));
  return r.value;
};

const apply = (tx: KvTransaction, body: string, constitution = DEFAULT_CONSTITUTION) => {
  const v = validate(tx, body, constitution);
  assert.ok(v.valid, v.description);
  return runner.apply(tx, constitution, body, "p".repeat(64));
};

const json = (tx: KvTransaction, map: string, key: string | Uint8Array) => {
  const raw = tx.get(map, typeof key === "string" ? utf8(key) : key);
  return raw === undefined ? undefined : JSON.parse(text(raw)!);
};

Deno.test("default constitution: its parts join into one module exporting only CCF's three", async () => {
  await init;
  const [imports, exports] = parse(DEFAULT_CONSTITUTION);
  assert.deepEqual(imports, []);
  assert.deepEqual(exports.map((e) => e.type === "direct" && e.name).sort(), [
    "apply",
    "resolve",
    "validate",
  ]);
  // Appended custom actions extend it through these top-level names (as on CCF).
  for (
    const name of ["class Action", "const actions", "function checkType", "function checkEnum"]
  ) {
    assert.match(DEFAULT_CONSTITUTION, new RegExp(`^${name}\\b`, "m"));
  }
});

Deno.test("set_js_app: the KMS bundle deploys into the modules and endpoints tables", async () => {
  const { bundle } = await kmsArtefacts();
  const { store, tx } = fresh();
  const r = apply(tx, proposal({ name: "set_js_app", args: { bundle } }));
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(text(tx.get(modules, utf8("/app.js"))), bundle.modules[0].module);
  const heartbeat = json(tx, endpoints, "GET /heartbeat");
  assert.deepEqual(heartbeat, {
    ...bundle.metadata.endpoints["/heartbeat"].get,
    js_module: "/app.js",
  });
  assert.equal(json(tx, endpoints, "POST /key").js_function, "key");
  store.commit(tx);
  // The node loads the app from exactly these tables.
  const deployed = readAppBundle(store.begin());
  assert.ok(deployed);
  const app = await createAppRuntime(deployed);
  try {
    const response = app.handle({ method: "GET", path: "/app/heartbeat" }, store.begin());
    assert.equal(response.status, 200);
  } finally {
    app.dispose();
  }
});

Deno.test("set_js_app: validation refuses what CCF's default constitution refuses", async () => {
  const { bundle } = await kmsArtefacts();
  const { tx } = fresh();
  const withEndpoint = (props: Record<string, unknown>) =>
    proposal({
      name: "set_js_app",
      args: {
        bundle: {
          metadata: { endpoints: { "/x": { get: props } } },
          modules: [{ name: "x.js", module: "export function x() { return {}; }" }],
        },
      },
    });
  const base = {
    js_module: "x.js",
    js_function: "x",
    mode: "readonly",
    forwarding_required: "never",
    authn_policies: [],
  };
  assert.ok(validate(tx, withEndpoint(base)).valid);
  const refusals: Array<[Record<string, unknown>, RegExp]> = [
    [{ ...base, mode: undefined }, /mode must be one of readwrite, readonly, historical/],
    [{ ...base, forwarding_required: "maybe" }, /forwarding_required must be one of/],
    [{ ...base, js_module: "y.js" }, /js_module "y.js" is not a module of the bundle/],
    [{ ...base, authn_policies: "jwt" }, /authn_policies must be of type array/],
    [{ ...base, authn_policies: [{ all_of: [1] }] }, /all_of\[0\] must be of type string/],
    [{ ...base, redirection_strategy: "sideways" }, /redirection_strategy must be one of/],
    [{ ...base, interpreter_reuse: "kms" }, /interpreter_reuse must be of type object/],
  ];
  for (const [props, reason] of refusals) {
    const v = validate(tx, withEndpoint(props));
    assert.equal(v.valid, false);
    assert.match(v.description, /^set_js_app at position 0 failed validation: /);
    assert.match(v.description, reason);
  }
  const noCache = proposal({
    name: "set_js_app",
    args: { bundle, disable_bytecode_cache: "no" },
  });
  assert.match(validate(tx, noCache).description, /disable_bytecode_cache must be of type boolean/);
  assert.deepEqual(validate(tx, proposal({ name: "launch_rockets" })), {
    valid: false,
    description: "launch_rockets: no such action",
  });
  assert.match(validate(tx, "not json").description, /the proposal is not JSON/);
});

Deno.test("set_js_app: a module that does not compile fails apply, unless the cache is disabled", () => {
  const broken = {
    metadata: {
      endpoints: {
        "/x": {
          get: {
            js_module: "x.js",
            js_function: "x",
            mode: "readonly",
            forwarding_required: "never",
            authn_policies: [],
          },
        },
      },
    },
    modules: [{ name: "x.js", module: "export function x( { return {}; }" }],
  };
  const { tx } = fresh();
  const r = apply(tx, proposal({ name: "set_js_app", args: { bundle: broken } }));
  assert.ok(!r.ok);
  assert.match(r.failure.reason, /Failed to compile module '\/x\.js': SyntaxError/);
  const missingImport = structuredClone(broken);
  missingImport.modules[0].module = 'import { y } from "./y.js"; export function x() { return y; }';
  const r2 = apply(fresh().tx, proposal({ name: "set_js_app", args: { bundle: missingImport } }));
  assert.ok(!r2.ok);
  assert.match(r2.failure.reason, /could not load module 'y\.js'/);
  const deferred = fresh().tx;
  const r3 = apply(
    deferred,
    proposal({ name: "set_js_app", args: { bundle: broken, disable_bytecode_cache: true } }),
  );
  assert.ok(r3.ok);
  assert.ok(deferred.has(modules, utf8("/x.js")));
});

Deno.test("members and users: set_member is Accepted, the last Active member stays", async () => {
  const [m0, m1] = await Promise.all([newMember("m0"), newMember("m1")]);
  const { tx } = fresh();
  registerMembers(tx, [m0]);
  assert.ok(
    apply(
      tx,
      proposal({ name: "set_member", args: { cert: m1.certPem, member_data: { role: "ops" } } }),
    ).ok,
  );
  assert.deepEqual(json(tx, membersInfo, m1.id), {
    status: "Accepted",
    member_data: { role: "ops" },
    recovery_role: "NonParticipant",
  });
  const removeLast = apply(tx, proposal({ name: "remove_member", args: { member_id: m0.id } }));
  assert.ok(!removeLast.ok);
  assert.match(removeLast.failure.reason, /last active member/);
  assert.ok(apply(tx, proposal({ name: "remove_member", args: { member_id: m1.id } })).ok);
  assert.equal(tx.get(membersInfo, utf8(m1.id)), undefined);
  assert.match(
    validate(tx, proposal({ name: "remove_member", args: { member_id: "abc" } })).description,
    /member_id must be 64 hexadecimal characters/,
  );
  assert.match(
    validate(tx, proposal({ name: "set_member", args: { cert: "not a cert" } })).description,
    /cert must be one or more valid X509 certificates/,
  );

  const user = await newMember("user1");
  assert.ok(
    apply(tx, proposal({ name: "set_user", args: { cert: user.certPem, user_data: { n: 1 } } })).ok,
  );
  assert.equal(text(tx.get(usersCerts, utf8(user.id))), user.certPem);
  assert.deepEqual(json(tx, usersInfo, user.id), { user_data: { n: 1 } });
  assert.ok(
    apply(tx, proposal({ name: "set_user_data", args: { user_id: user.id, user_data: 2 } })).ok,
  );
  assert.deepEqual(json(tx, usersInfo, user.id), { user_data: 2 });
  assert.ok(apply(tx, proposal({ name: "remove_user", args: { user_id: user.id } })).ok);
  assert.equal(tx.get(usersCerts, utf8(user.id)), undefined);
});

const rsaJwk = (kid: string) => {
  const { publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = publicKey.export({ format: "jwk" });
  return {
    jwk: { kty: "RSA", kid, n: jwk.n, e: jwk.e },
    spki: publicKey.export({ type: "spki", format: "der" }),
  };
};

const x5cJwk = async (kid: string) => {
  const m = await newMember(kid);
  const cert = new X509Certificate(m.certPem);
  return {
    jwk: { kty: "EC", kid, x5c: [cert.raw.toString("base64")] },
    spki: cert.publicKey.export({ type: "spki", format: "der" }),
  };
};

Deno.test("JWT issuers: keys of every form land as base64 SPKI in the v2 table, then go", async () => {
  const issuer = "https://idp.example.com";
  const rsa = rsaJwk("rsa-1");
  const { publicKey: ecKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const ecJwk = { ...ecKey.export({ format: "jwk" }), kid: "ec-1" };
  const x5c = await x5cJwk("x5c-1");
  const { tx } = fresh();
  const set = proposal({
    name: "set_jwt_issuer",
    args: { issuer, key_filter: "all", jwks: { keys: [rsa.jwk, ecJwk, x5c.jwk] } },
  });
  const r = apply(tx, set);
  assert.ok(r.ok, JSON.stringify(r));
  // CCF stores the arguments as proposed, less the keys: no defaults added.
  assert.deepEqual(json(tx, jwtIssuers, issuer), { issuer, key_filter: "all" });
  assert.deepEqual(json(tx, jwtSigningKeys, "rsa-1"), [
    { public_key: rsa.spki.toString("base64"), issuer },
  ]);
  assert.deepEqual(json(tx, jwtSigningKeys, "ec-1"), [
    { public_key: ecKey.export({ type: "spki", format: "der" }).toString("base64"), issuer },
  ]);
  assert.deepEqual(json(tx, jwtSigningKeys, "x5c-1")[0].public_key, x5c.spki.toString("base64"));

  // Replacing the set drops kids that are no longer published, keeps other issuers' keys.
  const other = rsaJwk("rsa-1");
  assert.ok(
    apply(
      tx,
      proposal({
        name: "set_jwt_issuer",
        args: { issuer: "https://other.example.com", jwks: { keys: [other.jwk] } },
      }),
    ).ok,
  );
  const rotated = rsaJwk("rsa-2");
  assert.ok(
    apply(
      tx,
      proposal({
        name: "set_jwt_public_signing_keys",
        args: { issuer, jwks: { keys: [rotated.jwk] } },
      }),
    ).ok,
  );
  assert.equal(tx.get(jwtSigningKeys, utf8("ec-1")), undefined);
  assert.deepEqual(json(tx, jwtSigningKeys, "rsa-1").map((k: { issuer: string }) => k.issuer), [
    "https://other.example.com",
  ]);
  assert.equal(json(tx, jwtSigningKeys, "rsa-2")[0].issuer, issuer);

  assert.ok(apply(tx, proposal({ name: "remove_jwt_issuer", args: { issuer } })).ok);
  assert.equal(tx.get(jwtIssuers, utf8(issuer)), undefined);
  assert.equal(tx.get(jwtSigningKeys, utf8("rsa-2")), undefined);
  assert.equal(json(tx, jwtSigningKeys, "rsa-1").length, 1);
  // Removing an issuer that is not (or no longer) trusted succeeds and changes nothing, as in CCF.
  const unknown = apply(tx, proposal({ name: "remove_jwt_issuer", args: { issuer } }));
  assert.ok(unknown.ok, JSON.stringify(unknown));
  assert.equal(json(tx, jwtSigningKeys, "rsa-1").length, 1);
  assert.ok(tx.has(jwtIssuers, utf8("https://other.example.com")));
});

Deno.test("JWT issuers: auto_refresh rules, constraints and malformed keys", async () => {
  const { tx } = fresh();
  const v = (args: unknown) => validate(tx, proposal({ name: "set_jwt_issuer", args })).description;
  assert.match(
    v({ issuer: "https://a.example", auto_refresh: true }),
    /ca_cert_bundle_name is missing/,
  );
  assert.match(
    v({ issuer: "http://a.example", auto_refresh: true, ca_cert_bundle_name: "b" }),
    /https URL without query or fragment/,
  );
  assert.match(v({ issuer: "i", key_filter: "some" }), /key_filter must be one of all, sgx/);
  // As CCF's: kty is required, and every certificate of x5c must be valid, not only the first.
  assert.match(
    v({ issuer: "i", jwks: { keys: [{ kid: "k", n: "AQAB", e: "AQAB" }] } }),
    /keys\[0\]\.kty must be of type string but is undefined/,
  );
  assert.match(
    v({ issuer: "i", jwks: { keys: [{ kid: "k", kty: "RSA" }] } }),
    /x5c, n and e \(RSA\), or x, y and crv \(EC\)/,
  );
  const first = (await x5cJwk("first")).jwk.x5c[0];
  assert.match(
    v({ issuer: "i", jwks: { keys: [{ kid: "k", kty: "EC", x5c: [first, "AAAA"] }] } }),
    /x5c\[1\] must be one or more valid X509/,
  );
  const noBundle = apply(
    tx,
    proposal({
      name: "set_jwt_issuer",
      args: { issuer: "https://a.example", auto_refresh: true, ca_cert_bundle_name: "b" },
    }),
  );
  assert.ok(!noBundle.ok && /No CA cert bundle found with name 'b'/.test(noBundle.failure.reason));

  const ca = await newMember("ca");
  assert.ok(
    apply(
      tx,
      proposal({ name: "set_ca_cert_bundle", args: { name: "b", cert_bundle: ca.certPem } }),
    ).ok,
  );
  assert.equal(json(tx, caCertBundles, "b"), ca.certPem);
  assert.ok(
    apply(
      tx,
      proposal({
        name: "set_jwt_issuer",
        args: { issuer: "https://a.example", auto_refresh: true, ca_cert_bundle_name: "b" },
      }),
    ).ok,
  );
  // As CCF's, removing a bundle an issuer still refreshes with succeeds.
  assert.ok(apply(tx, proposal({ name: "remove_ca_cert_bundle", args: { name: "b" } })).ok);
  assert.equal(json(tx, caCertBundles, "b"), undefined);

  const constrained = rsaJwk("c");
  const outside = apply(
    tx,
    proposal({
      name: "set_jwt_issuer",
      args: {
        issuer: "https://a.example",
        jwks: { keys: [{ ...constrained.jwk, issuer: "https://evil.example" }] },
      },
    }),
  );
  assert.ok(!outside.ok && /not in the domain/.test(outside.failure.reason));
  assert.ok(
    apply(
      tx,
      proposal({
        name: "set_jwt_issuer",
        args: {
          issuer: "https://a.example",
          jwks: { keys: [{ ...constrained.jwk, issuer: "https://tenant.a.example/v2" }] },
        },
      }),
    ).ok,
  );
  assert.equal(json(tx, jwtSigningKeys, "c")[0].constraint, "https://tenant.a.example/v2");
  const badKey = apply(
    tx,
    proposal({
      name: "set_jwt_public_signing_keys",
      args: {
        issuer: "https://a.example",
        jwks: { keys: [{ kid: "z", kty: "RSA", n: "AQAB", e: "!!" }] },
      },
    }),
  );
  assert.ok(!badKey.ok && /JWT signing key z is not usable/.test(badKey.failure.reason));
});

Deno.test("set_js_runtime_options: stored the way the node reads it", () => {
  const { tx } = fresh();
  const args = {
    max_heap_bytes: 50 * 1024 * 1024,
    max_stack_bytes: 512 * 1024,
    max_execution_time_ms: 2000,
    return_exception_details: true,
  };
  assert.ok(apply(tx, proposal({ name: "set_js_runtime_options", args })).ok);
  assert.deepEqual(readRuntimeOptions(tx), {
    maxHeapBytes: args.max_heap_bytes,
    maxStackBytes: args.max_stack_bytes,
    maxExecutionTimeMs: 2000,
    logExceptionDetails: false,
    returnExceptionDetails: true,
  });
  assert.match(
    validate(tx, proposal({ name: "set_js_runtime_options", args: { ...args, max_heap_bytes: 0 } }))
      .description,
    /max_heap_bytes must be at least 1/,
  );
});

Deno.test("permissions: validate reads but cannot write governance; apply cannot touch app tables", () => {
  const { tx } = fresh();
  tx.set("public:ccf.gov.custom", utf8("k"), utf8("v"));
  tx.set("public:app.table", utf8("k"), utf8("v"));
  const constitution = `
export function validate(input) {
  const seen = ccf.bufToStr(ccf.kv["public:ccf.gov.custom"].get(ccf.strToBuf("k")));
  if (input === "write") ccf.kv["public:ccf.gov.custom"].set(ccf.strToBuf("k"), ccf.strToBuf("w"));
  return { valid: seen === "v", description: typeof ccf.setJwtPublicSigningKeys };
}
export function apply(proposal) {
  if (proposal === "app") ccf.kv["public:app.table"].get(ccf.strToBuf("k"));
  if (proposal === "private") ccf.kv["ccf.gov.secret"].set(ccf.strToBuf("k"), ccf.strToBuf("w"));
  ccf.kv["public:ccf.gov.custom"].set(ccf.strToBuf("k"), ccf.strToBuf("applied"));
}`;
  assert.deepEqual(runner.validate(tx, constitution, "read"), {
    ok: true,
    value: { valid: true, description: "undefined" },
  });
  const write = runner.validate(tx, constitution, "write");
  assert.ok(!write.ok);
  assert.match(
    write.failure.reason,
    /Cannot call \.set\(\) on read-only table named public:ccf\.gov\.custom in read-only governance execution context/,
  );
  const app = runner.apply(tx, constitution, "app", "p");
  assert.ok(!app.ok && /inaccessible table named public:app\.table/.test(app.failure.reason));
  const secret = runner.apply(tx, constitution, "private", "p");
  assert.ok(!secret.ok && /inaccessible table named ccf\.gov\.secret/.test(secret.failure.reason));
  assert.ok(runner.apply(tx, constitution, "ok", "p").ok);
  assert.equal(text(tx.get("public:ccf.gov.custom", utf8("k"))), "applied");
});

Deno.test("kms_actions.js appended to the constitution: set_key_release_policy validates and applies", async () => {
  const { kmsActions } = await kmsArtefacts();
  const constitution = `${DEFAULT_CONSTITUTION}\n${kmsActions}\n`;
  const { tx } = fresh();
  const change = {
    type: "add",
    claims: { "x-ms-ver": ["1.0"], "x-ms-azurevm-debuggersdisabled": true },
  };
  const r = apply(tx, proposal({ name: "set_key_release_policy", args: change }), constitution);
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(json(tx, "public:ccf.gov.policies.key_release", "key_release_policy"), {
    version: 1,
    policy: {
      claims: { "x-ms-ver": ["1.0"], "x-ms-azurevm-debuggersdisabled": [true] },
      gte: {},
      gt: {},
    },
  });
  const refused = validate(
    tx,
    proposal({
      name: "set_key_release_policy",
      args: { type: "remove", claims: { "x-ms-ver": ["1.0"] } },
    }),
    constitution,
  );
  assert.equal(refused.valid, false);
  assert.match(
    refused.description,
    /set_key_release_policy at position 0 failed validation: .*x-ms-ver/,
  );
  // The default actions are still there.
  assert.ok(validate(tx, proposal({ name: "remove_js_app" }), constitution).valid);
});
