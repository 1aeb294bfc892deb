import assert from "node:assert/strict";
import { join } from "node:path";
import { startAttestationIssuer } from "@kms/sandbox";
import { checkJwks, keyReleaseArgs, trustIssuerProposal } from "../../../scripts/kms/proposals.ts";
import { runCli } from "./_harness.ts";

const root = join(import.meta.dirname!, "..", "..", "..");
const policies = join(root, "governance", "policies");

const dryRun = async (argv: string[], options: { cwd?: string; stdin?: string } = {}) => {
  const run = await runCli([...argv, "--dry-run"], {
    cwd: options.cwd ?? root,
    stdin: options.stdin,
  });
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout);
};

const withTempDir = async (body: (dir: string) => Promise<void>) => {
  const dir = await Deno.makeTempDir({ prefix: "kms-cli-proposals-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
};

Deno.test("policy add: the seed's MAA example becomes set_key_release_policy as written", async () => {
  assert.deepEqual(
    await dryRun(["policy", "add", "governance/policies/key-release-policy-add.json"]),
    {
      actions: [{
        name: "set_key_release_policy",
        args: {
          type: "add",
          claims: {
            "x-ms-ver": ["1.0"],
            "x-ms-azurevm-debuggersdisabled": [true],
            "x-ms-azurevm-osversion-major": [22, 23],
          },
          gte: { "x-ms-azurevm-osversion-major": 22 },
          gt: { "x-ms-azurevm-osversion-major": 21 },
        },
      }],
    },
  );
});

Deno.test("policy remove: the sample removes one allowed value", async () => {
  assert.deepEqual(
    await dryRun(["policy", "remove", join(policies, "key-release-policy-remove.json")]),
    {
      actions: [{
        name: "set_key_release_policy",
        args: { type: "remove", claims: { "x-ms-azurevm-osversion-major": [23] } },
      }],
    },
  );
});

Deno.test("policy: the seed's file form and a bare change without type are unwrapped; the type comes from the command", () => {
  const seed = {
    claimType: "add",
    keyReleaseClaims: {
      claims: { "x-ms-ver": ["1.0"], "x-ms-azurevm-debuggersdisabled": true },
      gte: { "x-ms-azurevm-osversion-major": "22" },
    },
  };
  assert.deepEqual(keyReleaseArgs("add", seed, "f"), {
    type: "add",
    claims: { "x-ms-ver": ["1.0"], "x-ms-azurevm-debuggersdisabled": true },
    gte: { "x-ms-azurevm-osversion-major": "22" },
  });
  assert.deepEqual(keyReleaseArgs("remove", { claims: { "x-ms-ver": ["1.0"] } }, "f"), {
    type: "remove",
    claims: { "x-ms-ver": ["1.0"] },
  });
  assert.throws(
    () => keyReleaseArgs("remove", seed, "f"),
    /type "add", not remove: use `deno task kms policy add`/,
  );
  assert.throws(
    () => keyReleaseArgs("add", { ...seed, extra: 1 }, "f"),
    /unexpected field\(s\) extra/,
  );
});

Deno.test("policy: a change the core refuses fails before anything is signed, naming the file and the problem", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(
      join(dir, "bad.json"),
      JSON.stringify({ claims: { "x-ms-nope": ["1"] } }),
    );
    const run = await runCli(["policy", "add", "bad.json"], { cwd: dir });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /error: bad\.json: .*x-ms-nope/);
    assert.equal(run.stdout, "");
    await Deno.writeTextFile(join(dir, "broken.json"), "{");
    const broken = await runCli(["policy", "add", "broken.json"], { cwd: dir });
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /broken\.json is not JSON/);
    const missing = await runCli(["policy", "add", "absent.json"], { cwd: dir });
    assert.match(
      missing.stderr,
      /cannot read the key release policy change .*absent\.json: no such file/,
    );
  });
});

Deno.test("settings and rotation: the samples, and the bare forms wrapped in their argument", async () => {
  const settings = {
    name: "transparent-kms",
    description: "Transparent key management service for confidential inferencing",
    version: "1.0.0",
    debug: false,
  };
  assert.deepEqual(await dryRun(["settings", "governance/policies/settings-policy.json"]), {
    actions: [{ name: "set_settings_policy", args: { settings_policy: { service: settings } } }],
  });
  assert.deepEqual(
    await dryRun(["settings", "-"], { stdin: JSON.stringify({ service: settings }) }),
    {
      actions: [{ name: "set_settings_policy", args: { settings_policy: { service: settings } } }],
    },
  );
  // The seed's flat sample is accepted as it is.
  assert.deepEqual(
    await dryRun(["settings", "-"], { stdin: JSON.stringify({ settings_policy: settings }) }),
    { actions: [{ name: "set_settings_policy", args: { settings_policy: settings } }] },
  );
  const rotation = { rotation_interval_seconds: 43200, grace_period_seconds: 86400 };
  assert.deepEqual(await dryRun(["rotation", "governance/policies/key-rotation-policy.json"]), {
    actions: [{ name: "set_key_rotation_policy", args: { key_rotation_policy: rotation } }],
  });
  assert.deepEqual(await dryRun(["rotation", "-"], { stdin: JSON.stringify(rotation) }), {
    actions: [{ name: "set_key_rotation_policy", args: { key_rotation_policy: rotation } }],
  });
  const bad = await runCli(["rotation", "-", "--dry-run"], {
    stdin: JSON.stringify({ rotation_interval_seconds: 0, grace_period_seconds: 1 }),
  });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /stdin: .*rotation_interval_seconds/);
});

Deno.test("propose: a full proposal is passed as it is; a bare argument is pointed at its command", async () => {
  assert.deepEqual(
    await dryRun(["propose", "governance/policies/jwt-validation-policy-demo.json"]),
    {
      actions: [{
        name: "set_jwt_validation_policy",
        args: {
          issuer: "http://Demo-jwt-issuer",
          validation_policy: { iss: "http://Demo-jwt-issuer" },
        },
      }],
    },
  );
  const custom = { actions: [{ name: "set_user", args: { cert: "PEM" } }, { name: "x" }] };
  assert.deepEqual(await dryRun(["propose", "-"], { stdin: JSON.stringify(custom) }), custom);
  for (
    const [stdin, message] of [
      ['{"actions": []}', /actions must be a non-empty list/],
      ['{"actions": [{"args": {}}]}', /actions\[0\] must be \{"name"/],
      ['{"actions": [{"name": "a", "argz": 1}]}', /actions\[0\] has unexpected field\(s\) argz/],
      ['{"actions": [{"name": "a"}], "x": 1}', /unexpected field\(s\) x/],
      ['{"claims": {}}', /not a proposal .*deno task kms policy add\|remove/],
      ['{"key_rotation_policy": {}}', /deno task kms rotation/],
    ] as const
  ) {
    const run = await runCli(["propose", "-", "--dry-run"], { stdin });
    assert.equal(run.code, 1, stdin);
    assert.match(run.stderr, message);
  }
});

Deno.test("deploy: set_js_app carries dist/bundle.json with the bytecode cache enabled", async () => {
  await withTempDir(async (dir) => {
    const bundle = {
      metadata: { endpoints: { "/heartbeat": { get: { js_module: "app.js" } } } },
      modules: [{ name: "app.js", module: "export function heartbeat() {}" }],
    };
    await Deno.writeTextFile(join(dir, "bundle.json"), JSON.stringify(bundle));
    assert.deepEqual(await dryRun(["deploy", "--dist", dir]), {
      actions: [{ name: "set_js_app", args: { bundle, disable_bytecode_cache: false } }],
    });
    await Deno.writeTextFile(join(dir, "bundle.json"), '{"modules": []}');
    const bad = await runCli(["deploy", "--dist", dir, "--dry-run"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /the bundle must be \{metadata, modules\}/);
  });
});

Deno.test("trust-issuer: a JWKS file becomes set_jwt_issuer (key_filter all) and an iss validation policy, in one proposal", async () => {
  const workspace = await Deno.makeTempDir({ prefix: "kms-cli-idp-" });
  const idp = await startAttestationIssuer({ workspace, port: 0 });
  try {
    const jwks = await (await fetch(`${idp.url}/keys`)).json();
    await Deno.writeTextFile(join(workspace, "jwks.json"), JSON.stringify(jwks));
    const expected = {
      actions: [
        {
          name: "set_jwt_issuer",
          args: { issuer: "http://Demo-jwt-issuer", key_filter: "all", jwks },
        },
        {
          name: "set_jwt_validation_policy",
          args: {
            issuer: "http://Demo-jwt-issuer",
            validation_policy: { iss: "http://Demo-jwt-issuer" },
          },
        },
      ],
    };
    assert.deepEqual(
      await dryRun(["trust-issuer", "http://Demo-jwt-issuer", "--jwks", "jwks.json"], {
        cwd: workspace,
      }),
      expected,
    );
    // --demo fetches the same JWKS, and the issuer's name defaults to the demo's.
    assert.deepEqual(await dryRun(["trust-issuer", "--demo", "--idp-url", idp.url]), expected);
    const other = await runCli([
      "trust-issuer",
      "https://other",
      "--demo",
      "--idp-url",
      idp.url,
      "--dry-run",
    ]);
    assert.equal(other.code, 1);
    assert.match(other.stderr, /signs tokens as http:\/\/Demo-jwt-issuer, not https:\/\/other/);
  } finally {
    await idp.stop();
    await Deno.remove(workspace, { recursive: true });
  }
});

Deno.test("trust-issuer: usage errors and JWKS that must not be proposed", async () => {
  for (
    const [argv, message] of [
      [["trust-issuer", "i"], /--jwks FILE, --demo or --auto-refresh/],
      [["trust-issuer", "i", "--jwks", "f", "--demo"], /--jwks FILE, --demo or --auto-refresh/],
      [["trust-issuer", "i", "--jwks", "f", "--idp-url", "http://x"], /--idp-url goes with --demo/],
      [["trust-issuer", "--jwks", "f"], /missing <issuer>/],
    ] as const
  ) {
    const run = await runCli([...argv, "--dry-run"]);
    assert.equal(run.code, 2, argv.join(" "));
    assert.match(run.stderr, message);
  }
  const secret = "c2VjcmV0LXByaXZhdGUtZXhwb25lbnQtbWF0ZXJpYWw";
  const run = await runCli(["trust-issuer", "i", "--jwks", "-", "--dry-run"], {
    stdin: JSON.stringify({ keys: [{ kty: "RSA", kid: "k", n: "AQAB", e: "AQAB", d: secret }] }),
  });
  assert.equal(run.code, 1);
  assert.match(run.stderr, /keys\[0\] holds private key material \(d\)/);
  assert.ok(!run.stderr.includes(secret) && !run.stdout.includes(secret));
  assert.throws(() => checkJwks({ keys: [{ kty: "RSA", n: "a", e: "b" }] }, "f"), /has no kid/);
  assert.throws(() => checkJwks({ keys: [{ kid: "a" }] }, "f"), /no x5c, n\/e or x\/y\/crv/);
  assert.throws(() => checkJwks({ keys: [] }, "f"), /1 to 64 keys/);
  assert.throws(
    () => checkJwks({ keys: [{ kid: "a", x5c: ["c"] }, { kid: "a", x5c: ["d"] }] }, "f"),
    /repeats the kid a/,
  );
  assert.deepEqual(checkJwks({ keys: [{ kid: "a", kty: "RSA", n: "n", e: "e" }] }, "f").warnings, [
    "key a has no x5c: CCF 5 accepts only keys with a certificate",
  ]);
  assert.throws(() => trustIssuerProposal("has space", { keys: [] }), /without spaces/);
});

Deno.test("trust-issuer --auto-refresh: the CA bundle and an auto_refresh issuer, in one proposal", async () => {
  const workspace = await Deno.makeTempDir({ prefix: "kms-cli-idp-" });
  const idp = await startAttestationIssuer({ workspace, port: 0, tls: true });
  try {
    const caPem = idp.ca!.certPem;
    const host = new URL(idp.url).host;
    const validation = {
      name: "set_jwt_validation_policy",
      args: { issuer: idp.issuer, validation_policy: { iss: idp.issuer } },
    };
    assert.deepEqual(
      await dryRun(["trust-issuer", idp.issuer, "--auto-refresh", "--ca-cert-bundle", "-"], {
        stdin: caPem,
      }),
      {
        actions: [
          {
            name: "set_ca_cert_bundle",
            args: { name: `jwt_issuer_${host}`, cert_bundle: caPem },
          },
          {
            name: "set_jwt_issuer",
            args: {
              issuer: idp.issuer,
              key_filter: "all",
              auto_refresh: true,
              ca_cert_bundle_name: `jwt_issuer_${host}`,
            },
          },
          validation,
        ],
      },
    );
    // Initial keys may come with it, and the bundle may be named.
    const jwks = await (await fetch(`${idp.url}/keys`, {
      client: Deno.createHttpClient({ caCerts: [caPem] }),
    })).json();
    await Deno.writeTextFile(join(workspace, "jwks.json"), JSON.stringify(jwks));
    const named = await dryRun([
      "trust-issuer",
      idp.issuer,
      "--auto-refresh",
      "--ca-cert-bundle",
      idp.ca!.path,
      "--ca-cert-bundle-name",
      "maa",
      "--jwks",
      "jwks.json",
    ], { cwd: workspace });
    assert.deepEqual(named.actions[0].args, { name: "maa", cert_bundle: caPem });
    assert.deepEqual(named.actions[1].args, {
      issuer: idp.issuer,
      key_filter: "all",
      auto_refresh: true,
      ca_cert_bundle_name: "maa",
      jwks,
    });
  } finally {
    await idp.stop();
    await Deno.remove(workspace, { recursive: true });
  }
});

Deno.test("trust-issuer --auto-refresh: usage errors, issuers CCF cannot fetch from, bad bundles", async () => {
  for (
    const [argv, message] of [
      [["trust-issuer", "https://i", "--auto-refresh"], /needs --ca-cert-bundle FILE/],
      [["trust-issuer", "--demo", "--auto-refresh", "--ca-cert-bundle", "f"], /not go with --demo/],
      [
        ["trust-issuer", "https://i", "--jwks", "f", "--ca-cert-bundle", "f"],
        /go with --auto-refresh/,
      ],
      [
        ["trust-issuer", "https://i", "--demo", "--ca-cert-bundle-name", "n"],
        /go with --auto-refresh/,
      ],
      [["trust-issuer", "--auto-refresh", "--ca-cert-bundle", "f"], /missing <issuer>/],
    ] as const
  ) {
    const run = await runCli([...argv, "--dry-run"]);
    assert.equal(run.code, 2, argv.join(" "));
    assert.match(run.stderr, message);
  }
  const workspace = await Deno.makeTempDir({ prefix: "kms-cli-idp-" });
  const idp = await startAttestationIssuer({ workspace, port: 0, tls: true });
  await idp.stop();
  await Deno.remove(workspace, { recursive: true });
  const bundle = idp.ca!.certPem;
  for (
    const [issuer, stdin, message] of [
      ["http://Demo-jwt-issuer", bundle, /an https URL without query or fragment/],
      ["https://i/?tenant=1", bundle, /an https URL without query or fragment/],
      ["https://i", "not a certificate", /stdin must hold 1 to 64 PEM certificates, not 0/],
      [
        "https://i",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        /stdin: certificate 1 does not parse/,
      ],
      ["https://i", `${bundle}-----BEGIN PRIVATE KEY-----\n`, /holds a private key/],
    ] as const
  ) {
    const run = await runCli(
      ["trust-issuer", issuer, "--auto-refresh", "--ca-cert-bundle", "-", "--dry-run"],
      { stdin },
    );
    assert.equal(run.code, 1, `${issuer}: ${run.stderr}`);
    assert.match(run.stderr, message);
  }
});
