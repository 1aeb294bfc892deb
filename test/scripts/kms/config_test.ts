import assert from "node:assert/strict";
import { join } from "node:path";
import { parseArgs } from "../../../scripts/kms/args.ts";
import { connectionOptions, voteOptions } from "../../../scripts/kms/commands.ts";
import {
  loadSigner,
  parseMemberList,
  resolveConnection,
  resolveVoters,
  workspaceMember,
} from "../../../scripts/kms/config.ts";
import { certId } from "../../../ccf/gov/cose.ts";
import { CliError, UsageError } from "../../../scripts/kms/errors.ts";
import { makeWorkspace } from "./_harness.ts";
import { runCli } from "./_harness.ts";

const parse = (args: string[]) => parseArgs(args, { ...connectionOptions, ...voteOptions });
const sandboxEnv = {
  KMS_URL: "https://kms.example:8443/",
  KMS_SERVICE_CERT_PATH: "/env/service_cert.pem",
  KMS_MEMBER_CERT_PATH: "/env/member0_cert.pem",
  KMS_MEMBER_PRIVK_PATH: "/env/member0_privk.pem",
  KMS_WORKSPACE: "/env/workspace",
};

Deno.test("config: without options or environment, the sandbox's defaults under ./workspace", () => {
  const c = resolveConnection(parse([]), {}, "/op");
  assert.deepEqual(c, {
    url: "https://127.0.0.1:8000",
    serviceCertPath: "/op/workspace/sandbox_common/service_cert.pem",
    workspace: "/op/workspace",
    member: workspaceMember("/op/workspace", 0),
  });
  assert.deepEqual(c.member, {
    label: "member0",
    certPath: "/op/workspace/sandbox_common/member0_cert.pem",
    keyPath: "/op/workspace/sandbox_common/member0_privk.pem",
  });
});

Deno.test("config: the environment the sandbox prints is used when no option says otherwise", () => {
  const c = resolveConnection(parse([]), sandboxEnv, "/op");
  assert.equal(c.url, "https://kms.example:8443");
  assert.equal(c.serviceCertPath, "/env/service_cert.pem");
  assert.equal(c.workspace, "/env/workspace");
  assert.equal(c.member.certPath, "/env/member0_cert.pem");
  assert.equal(c.member.keyPath, "/env/member0_privk.pem");
});

Deno.test("config: options beat the environment; --member and --workspace pick workspace files", () => {
  const member = resolveConnection(parse(["--member", "2"]), sandboxEnv, "/op");
  assert.deepEqual(member.member, workspaceMember("/env/workspace", 2));
  assert.equal(member.serviceCertPath, "/env/service_cert.pem");
  const ws = resolveConnection(parse(["--workspace", "ws"]), sandboxEnv, "/op");
  assert.equal(ws.workspace, "/op/ws");
  assert.equal(ws.serviceCertPath, "/op/ws/sandbox_common/service_cert.pem");
  assert.deepEqual(ws.member, workspaceMember("/op/ws", 0));
  const files = resolveConnection(
    parse(["--cert", "c.pem", "--key", "/k.pem", "--service-cert", "s.pem", "--url", "https://h"]),
    sandboxEnv,
    "/op",
  );
  assert.equal(files.member.certPath, "/op/c.pem");
  assert.equal(files.member.keyPath, "/k.pem");
  assert.equal(files.serviceCertPath, "/op/s.pem");
  assert.equal(files.url, "https://h");
});

Deno.test("config: inconsistent or malformed connection options are usage errors", () => {
  const fails = (args: string[], message: RegExp, env = {}) =>
    assert.throws(() => resolveConnection(parse(args), env, "/op", "keys"), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, message);
      return true;
    });
  fails(["--cert", "c.pem"], /--cert and --key go together/);
  fails(["--cert", "c", "--key", "k", "--member", "1"], /--member or --cert\/--key, not both/);
  fails(["--member", "one"], /--member must be a member number/);
  fails(["--url", "http://127.0.0.1:8000"], /--url must be https/);
  fails(["--url", "nope"], /--url must be a URL/);
  fails(["--url", "https://h/?x=1"], /without query/);
  fails([], /must be set together/, { KMS_MEMBER_CERT_PATH: "/c.pem" });
});

Deno.test("config: --vote-with lists workspace members; by default the proposer votes alone", () => {
  assert.deepEqual(parseMemberList("0, 2,1"), [0, 2, 1]);
  assert.throws(() => parseMemberList("0,0"), /member 0 twice/);
  assert.throws(() => parseMemberList("0,,1"), /member numbers/);
  assert.throws(() => parseMemberList("all"), /member number/);
  const c = resolveConnection(parse(["--member", "1"]), {}, "/op");
  assert.deepEqual(resolveVoters(parse(["--member", "1"]), c), [
    workspaceMember("/op/workspace", 1),
  ]);
  assert.deepEqual(
    resolveVoters(parse(["--vote-with", "0,2"]), c).map((m) => m.label),
    ["member0", "member2"],
  );
});

Deno.test("config: a signer is loaded from the sandbox's SEC1 key, and a key of another member is refused", async () => {
  const { dir, members } = await makeWorkspace(2);
  try {
    const secrets: string[] = [];
    const signer = await loadSigner(workspaceMember(dir, 1), (s) => secrets.push(s));
    assert.equal(signer.id, certId(members[1].certPem));
    assert.equal(signer.label, "member1");
    assert.deepEqual(secrets, [members[1].keyPem]);
    const mixed = { ...workspaceMember(dir, 0), keyPath: workspaceMember(dir, 1).keyPath };
    await assert.rejects(loadSigner(mixed), (e: unknown) => {
      assert.ok(e instanceof CliError);
      assert.match(e.message, /does not belong to the certificate/);
      assert.ok(!e.message.includes(members[1].keyPem.split("\n")[1]));
      return true;
    });
    await assert.rejects(
      loadSigner(workspaceMember(dir, 5)),
      /cannot read the certificate of member5 .*no such file/,
    );
    const notCert = {
      ...workspaceMember(dir, 0),
      certPath: join(dir, "sandbox_common", "member0_privk.pem"),
    };
    await assert.rejects(loadSigner(notCert), /is not a PEM certificate/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("config: relative paths are the operator's (INIT_CWD), and a missing service cert says what to do", async () => {
  const run = await runCli(["keys"], { cwd: "/nonexistent-operator-dir" });
  assert.equal(run.code, 1);
  assert.match(
    run.stderr,
    /cannot read the service certificate \/nonexistent-operator-dir\/workspace\/sandbox_common\/service_cert\.pem: no such file \(start the sandbox/,
  );
});
