/**
 * The CLI against a real sandbox (`deno task sandbox` as a separate process, in a temporary
 * workspace with three members and the default majority constitution), the way an operator drives
 * it: deploy, add the KMS actions, proposals accepted, voted against (and left open, as CCF's
 * default constitution does), withdrawn, refused by `validate` and failing in `apply` (which
 * records nothing), policies read back through the app, keys, receipts, a trusted issuer and a key
 * release.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startAttestationIssuer } from "@kms/sandbox";
import { type Run, runCli } from "./_harness.ts";
import { audit } from "../../../scripts/kms/audit.ts";
import { receiptVerifier } from "../../../client/kms/receiptVerifier.ts";

const root = join(import.meta.dirname!, "..", "..", "..");
const sandboxScript = join(root, "scripts", "sandbox.ts");
const policies = join(root, "governance", "policies");

interface Sandbox {
  readonly env: Record<string, string>;
  readonly log: () => string;
  stop(): Promise<void>;
}

/** Starts the sandbox and waits for the environment it prints. */
const startSandbox = async (workspace: string): Promise<Sandbox> => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      sandboxScript,
      "--workspace",
      workspace,
      "--port",
      "0",
      "--signature-interval-ms",
      "50",
      "--verbose",
    ],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  let output = "";
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) output += chunk;
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  const deadline = Date.now() + 60_000;
  while (!output.includes("Press Ctrl-C to stop.")) {
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`the sandbox did not start:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const env = Object.fromEntries(
    [...output.matchAll(/^export (KMS_[A-Z_]+)=(.*)$/gm)].map((m) => [m[1], m[2]]),
  );
  return {
    env,
    log: () => output,
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
      await drained;
    },
  };
};

const idOf = (run: Run): string => {
  const id = run.stdout.match(/^proposal (\S+)$/m)?.[1];
  assert.ok(id, `a proposal id in:\n${run.stdout}\n${run.stderr}`);
  return id;
};

const stateOf = (run: Run): string | undefined => run.stdout.match(/^state: (\w+)$/m)?.[1];

Deno.test({
  name: "e2e: an operator runs the KMS on the sandbox with deno task kms",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const workspace = await Deno.makeTempDir({ prefix: "kms-cli-e2e-" });
    const dist = join(workspace, "dist");
    const sandbox = await startSandbox(workspace);
    const idp = await startAttestationIssuer({ workspace: join(workspace, "idp-ws"), port: 0 });
    const env = sandbox.env;
    const kms = async (argv: string[], stdin?: string): Promise<Run> => {
      const run = await runCli(argv, { env, cwd: root, stdin });
      // Nothing secret, ever: no member key material reaches the output.
      const key = await Deno.readTextFile(env.KMS_MEMBER_PRIVK_PATH);
      for (const line of key.split("\n").filter((l) => l.length > 20 && !l.startsWith("-----"))) {
        assert.ok(!run.stdout.includes(line) && !run.stderr.includes(line));
      }
      return run;
    };
    const ok = async (argv: string[], stdin?: string): Promise<Run> => {
      const run = await kms(argv, stdin);
      assert.equal(run.code, 0, `${argv.join(" ")}:\n${run.stdout}\n${run.stderr}`);
      return run;
    };
    const http = Deno.createHttpClient({
      caCerts: [await Deno.readTextFile(env.KMS_SERVICE_CERT_PATH)],
    });
    const appGet = async (path: string) => {
      const response = await fetch(`${env.KMS_URL}${path}`, { client: http });
      return { status: response.status, body: await response.json() };
    };
    try {
      assert.equal(env.KMS_WORKSPACE, workspace);

      await t.step("the constitution in force is printed", async () => {
        const run = await ok(["constitution"]);
        assert.match(run.stdout, /export function resolve/);
      });

      await t.step("deploy builds the bundle and a majority accepts set_js_app", async () => {
        const run = await ok(["deploy", "--build", "--dist", dist, "--vote-with", "0,1"]);
        assert.equal(stateOf(run), "Accepted");
        assert.match(run.stderr, /building the KMS bundle/);
        assert.equal((await appGet("/app/heartbeat")).status, 200);
      });

      await t.step("the KMS actions are appended once", async () => {
        const run = await ok([
          "constitution",
          "--add-kms-actions",
          "--dist",
          dist,
          "--vote-with",
          "0,1",
        ]);
        assert.equal(stateOf(run), "Accepted");
        assert.match((await ok(["constitution"])).stdout, /KMS governance actions/);
        const again = await ok(["constitution", "--add-kms-actions", "--dist", dist]);
        assert.match(again.stdout, /already holds these KMS actions: nothing to propose/);
        assert.doesNotMatch(again.stdout, /^proposal /m);
      });

      await t.step("policy add and remove, read back through /app/keyReleasePolicy", async () => {
        const add = await ok([
          "policy",
          "add",
          join(policies, "key-release-policy-add.json"),
          "--vote-with",
          "0,1",
        ]);
        assert.equal(stateOf(add), "Accepted");
        const added = await appGet("/app/keyReleasePolicy");
        assert.equal(added.status, 200);
        assert.deepEqual(added.body.policy.claims["x-ms-azurevm-osversion-major"], [22, 23]);
        assert.deepEqual(added.body.policy.gte, { "x-ms-azurevm-osversion-major": 22 });
        const remove = await ok([
          "policy",
          "remove",
          join(policies, "key-release-policy-remove.json"),
          "--vote-with",
          "0,1",
        ]);
        assert.equal(stateOf(remove), "Accepted");
        const removed = await appGet("/app/keyReleasePolicy");
        assert.deepEqual(removed.body.policy.claims["x-ms-azurevm-osversion-major"], [22]);
        assert.equal(removed.body.version, added.body.version + 1);
      });

      await t.step(
        "the proposer alone leaves it open; votes against leave it open too, until withdrawn",
        async () => {
          const run = await ok(["settings", join(policies, "settings-policy.json")]);
          assert.equal(stateOf(run), "Open");
          const id = idOf(run);
          const vote = await ok(["vote", id, "--reject", "--vote-with", "1,2"]);
          assert.equal(stateOf(vote), "Open");
          assert.match(vote.stdout, /^ballots: 3$/m);
          assert.match(vote.stdout, /^votes against do not reject a proposal .*withdraw/m);
          const shown = await ok(["proposal", id]);
          assert.equal(stateOf(shown), "Open");
          assert.match(shown.stdout, /proposer: member0/);
          const json = JSON.parse((await ok(["proposal", id, "--json"])).stdout);
          assert.equal(json.proposalState, "Open");
          assert.equal(json.ballotCount, 3);
          // A member who voted against cannot change its ballot.
          const again = await kms(["vote", id, "--member", "1"]);
          assert.equal(again.code, 1);
          assert.match(again.stderr, /VoteAlreadyExists/);
          assert.equal(stateOf(await ok(["withdraw", id, "--member", "0"])), "Withdrawn");
          const late = await kms(["vote", id, "--member", "1"]);
          assert.equal(late.code, 1);
        },
      );

      await t.step("an open proposal is withdrawn by its proposer", async () => {
        const run = await ok([
          "rotation",
          join(policies, "key-rotation-policy.json"),
          "--member",
          "2",
        ]);
        const id = idOf(run);
        assert.equal(stateOf(run), "Open");
        const refused = await kms(["withdraw", id, "--member", "0"]);
        assert.equal(refused.code, 1);
        const withdrawn = await ok(["withdraw", id, "--member", "2"]);
        assert.equal(stateOf(withdrawn), "Withdrawn");
      });

      await t.step("a proposal validate refuses fails with the constitution's reason", async () => {
        const proposal = {
          actions: [{
            name: "set_key_release_policy",
            args: { type: "add", claims: { "x-ms-not-a-claim": ["1"] } },
          }],
        };
        const run = await kms(["propose", "-"], JSON.stringify(proposal));
        assert.equal(run.code, 1);
        assert.match(run.stderr, /refused the proposal: .*x-ms-not-a-claim/);
        const unknown = await kms(["propose", "-"], '{"actions":[{"name":"no_such_action"}]}');
        assert.equal(unknown.code, 1);
        assert.match(unknown.stderr, /refused the proposal: .*no_such_action/);
      });

      await t.step(
        "a change that no longer applies: apply's reason, nothing recorded, still open",
        async () => {
          // Both remove 2.0: each is valid when proposed, the second fails once the first has
          // been applied. (They differ, since the same proposal twice in one second is a replay.)
          const change = JSON.stringify({ type: "add", claims: { "x-ms-ver": ["2.0", "3.0"] } });
          await ok(["policy", "add", "-", "--vote-with", "0,1"], change);
          const removal = (values: string[]) =>
            JSON.stringify({ type: "remove", claims: { "x-ms-ver": values } });
          const first = idOf(await ok(["policy", "remove", "-"], removal(["2.0"])));
          const second = idOf(await ok(["policy", "remove", "-"], removal(["2.0", "3.0"])));
          assert.equal(stateOf(await ok(["vote", first, "--member", "1"])), "Accepted");
          const failed = await kms(["vote", second, "--member", "1"]);
          assert.equal(failed.code, 1);
          assert.equal(stateOf(failed), "Open");
          assert.match(failed.stdout, /^ballots: 1$/m);
          assert.match(
            failed.stderr,
            /^error: apply failed: .*2\.0.*; the proposal is still open \(the ballot of member1 was not recorded\)$/m,
          );
          const shown = JSON.parse((await ok(["proposal", second, "--json"])).stdout);
          assert.equal(shown.proposalState, "Open");
          assert.equal(shown.ballotCount, 1);
          assert.equal(stateOf(await ok(["withdraw", second, "--member", "0"])), "Withdrawn");
        },
      );

      let txid = "";
      await t.step(
        "refresh creates a key; keys verifies its receipt; receipt prints it",
        async () => {
          const refresh = await ok(["refresh"]);
          assert.match(refresh.stdout, /^created key \d+/m);
          const keys = await ok(["keys"]);
          const row = keys.stdout.split("\n")[1];
          assert.match(row, /^\d+\s+[0-9a-f]{24}…\s+\d+\.\d+$/);
          txid = row.split(/\s+/).at(-1)!;
          assert.match(keys.stderr, /every receipt verified/);
          const asJson = JSON.parse((await ok(["keys", "--json"])).stdout);
          assert.equal(asJson.at(-1).receiptTxid, txid);
          assert.match(asJson.at(-1).publicKey, /^[0-9a-f]{212}$/);
          const receipt = JSON.parse((await ok(["receipt", txid])).stdout);
          assert.ok(receipt.signature);
          const notDue = await ok(["refresh", "--if-due"]);
          assert.match(notDue.stdout, /no key is due/);
        },
      );

      await t.step("trust the demo issuer, then release a key with its token", async () => {
        const trust = await ok([
          "trust-issuer",
          "--demo",
          "--idp-url",
          idp.url,
          "--vote-with",
          "0,1",
        ]);
        assert.equal(stateOf(trust), "Accepted");
        const { access_token: token } = await (await fetch(`${idp.url}/token`, { method: "POST" }))
          .json();
        const unwrapped = await ok(
          ["key", "--token-file", "-", "--unwrap-workspace", join(workspace, "idp-ws")],
          token,
        );
        assert.match(unwrapped.stdout, /^kid: \d+$/m);
        assert.match(unwrapped.stdout, /^publicKey: [0-9a-f]{212}$/m);
        assert.equal(unwrapped.stdout.split("\n").length, 2);
        const wrapped = await ok(["key", "--token", token]);
        assert.match(wrapped.stdout, /^wrapped key: 256 bytes/m);
        const explained = await ok(["explain", "--token", token]);
        assert.match(explained.stdout, /^\/key would release key \d+ to this token$/m);
        assert.match(explained.stdout, /^pass {2}key \d+ \(active\)$/m);
        assert.doesNotMatch(explained.stdout, /FAIL/);
        const asJson = await ok(["explain", "--token-file", "-", "--json"], token);
        assert.equal(JSON.parse(asJson.stdout).wouldRelease, true);
        // A stricter policy, tried on the token before anyone votes: nothing is proposed.
        const stricter = join(workspace, "stricter.json");
        await Deno.writeTextFile(
          stricter,
          JSON.stringify({ type: "add", claims: {}, gt: { "x-ms-azurevm-osversion-minor": 10 } }),
        );
        const before = (await appGet("/app/keyReleasePolicy")).body.version;
        const dryRun = await ok(["policy", "add", stricter, "--explain", token]);
        assert.match(
          dryRun.stdout,
          /^current policy \(version \d+\): the token's claims satisfy it$/m,
        );
        assert.match(
          dryRun.stdout,
          /^proposed policy \(version \d+\): the token's claims do not satisfy it$/m,
        );
        assert.match(
          dryRun.stdout,
          /^FAIL {2}gt x-ms-azurevm-osversion-minor: expected 10, token has 4$/m,
        );
        const dryJson = JSON.parse(
          (await ok(["policy", "add", stricter, "--explain", token, "--json"])).stdout,
        );
        assert.deepEqual([dryJson.current.releases, dryJson.proposed.releases], [true, false]);
        assert.equal((await appGet("/app/keyReleasePolicy")).body.version, before);
        for (const run of [unwrapped, wrapped, explained, asJson, dryRun]) {
          assert.ok(!run.stdout.includes(token) && !run.stderr.includes(token));
        }
        const denied = await kms(["key", "--token", "a.b.c"]);
        assert.equal(denied.code, 1);
      });

      await t.step(
        "audit: policies, keys and releases, every receipt verified; a tampered one fails",
        async () => {
          // The releases of the last step are signed within a second.
          let run = await kms(["audit"]);
          for (let i = 0; run.code !== 0 && i < 20; i++) {
            await new Promise((r) => setTimeout(r, 250));
            run = await kms(["audit"]);
          }
          assert.equal(run.code, 0, run.stdout + run.stderr);
          assert.match(
            run.stdout,
            /governance\s+key release policy version 1 set by proposal \w+ in transaction \d+\.\d+/,
          );
          assert.match(run.stdout, /governance\s+JWT validation policy of \S+ set by proposal \w+/);
          assert.match(run.stdout, /key 0 \(OHTTP id 0\) created, .*\[receipt \d+\.\d+ verified\]/);
          assert.match(
            run.stdout,
            /release 0: key 0 \(OHTTP id 0\) to TPM key [\w-]{43} under key release policy version \d+/,
          );
          assert.match(run.stdout, /^audit passed: \d+ entries, every receipt verified$/m);
          const report = JSON.parse((await ok(["audit", "--json"])).stdout);
          assert.deepEqual(report.failures, []);
          assert.equal(
            (await ok(["audit", "--since", "2999-01-01", "--json"])).stdout.includes("release 0"),
            false,
          );

          // An answer altered on the way: the release's record no longer matches its receipt.
          const serviceCertPem = await Deno.readTextFile(env.KMS_SERVICE_CERT_PATH);
          const tampering = async (path: string) => {
            const body = (await appGet(path)).body;
            if (path.startsWith("/app/releases")) {
              body.releases[0].record = body.releases[0].record.replace(
                '"policyVersion":',
                '"policyVersion":1',
              );
            }
            return body;
          };
          const tampered = await audit(tampering, receiptVerifier(serviceCertPem));
          assert.ok(
            tampered.failures.some((f) => /^release 0: the receipt does not verify/.test(f)),
            tampered.failures.join("\n"),
          );
        },
      );

      await t.step("a service certificate that is not this service's fails TLS", async () => {
        // A member certificate is self-signed too, but it did not sign the node's certificate.
        const run = await kms(["proposal", "x", "--service-cert", env.KMS_MEMBER_CERT_PATH]);
        assert.equal(run.code, 1);
        assert.match(run.stderr, /TLS with https:\/\/127\.0\.0\.1:\d+ failed/);
      });
    } catch (e) {
      console.error(sandbox.log());
      throw e;
    } finally {
      http.close();
      await idp.stop();
      await sandbox.stop();
      await Deno.remove(workspace, { recursive: true });
    }
  },
});
