import assert from "node:assert/strict";
import { join } from "node:path";
import { checkTxid, parseKid, txidOfCommitEvidence } from "../../../scripts/kms/appCommands.ts";
import { createOutput } from "../../../scripts/kms/output.ts";
import { makeWorkspace } from "./_harness.ts";
import { runCli } from "./_harness.ts";

// Shaped like a JWT; never a real one.
const token = "eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3QifQ.eyJzdWIiOiJzZWNyZXQtdGVzdC1jbGFpbSJ9.c2ln";

Deno.test("key: options are checked before anything is sent", async () => {
  for (
    const [argv, message] of [
      [["key"], /--token or --token-file/],
      [["key", "--token", token, "--token-file", "f"], /--token or --token-file/],
      [["key", "--token", token, "--kid", "256"], /--kid must be a key id from 0 to 255, not 256/],
      [["key", "--token", token, "--kid", "x"], /--kid must be a key id/],
      [
        ["key", "--token", token, "--unwrap-workspace", "w", "--out", "f"],
        /--out saves the wrapped key/,
      ],
    ] as const
  ) {
    const run = await runCli([...argv]);
    assert.equal(run.code, 2, argv.join(" "));
    assert.match(run.stderr, message);
    assert.ok(!run.stderr.includes(token));
  }
  assert.equal(parseKid(undefined), undefined);
  assert.equal(parseKid("0"), 0);
  assert.equal(parseKid("255"), 255);
});

Deno.test("key: the token is never printed, whatever fails", async () => {
  const { dir } = await makeWorkspace(1);
  try {
    const env = { KMS_WORKSPACE: dir };
    // The service is unreachable: the error names the address, not the request.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = listener.addr.port;
    listener.close();
    const unreachable = await runCli([
      "key",
      "--token",
      token,
      "--url",
      `https://127.0.0.1:${port}`,
    ], {
      env,
    });
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, new RegExp(`cannot reach https://127\\.0\\.0\\.1:${port}`));
    // A malformed token is refused without being quoted.
    const malformed = await runCli(["key", "--token-file", "-"], {
      env,
      stdin: `${token} extra\n`,
    });
    assert.equal(malformed.code, 1);
    assert.match(malformed.stderr, /the token is not a JWT/);
    // A workspace without the demo TPM key fails before the token is sent.
    const noTpm = await runCli(["key", "--token", token, "--unwrap-workspace", dir], { env });
    assert.equal(noTpm.code, 1);
    assert.match(noTpm.stderr, /has no demo TPM key/);
    for (const run of [unreachable, malformed, noTpm]) {
      assert.ok(!run.stdout.includes(token) && !run.stderr.includes(token));
      assert.ok(!run.stderr.includes("secret-test-claim"));
    }
    assert.equal(await Deno.stat(join(dir, "idp")).catch(() => null), null, "no TPM key created");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("output: registered secrets are masked in every stream, line by line for PEMs", () => {
  const lines: string[] = [];
  const out = createOutput({
    stdout: (l) => lines.push(`1 ${l}`),
    stderr: (l) => lines.push(`2 ${l}`),
  });
  const pem = "-----BEGIN EC PRIVATE KEY-----\nMIGkAgEBBDCabcdefghijklmnopqrstuvwxyz\n" +
    "oAcGBSuBBAAioWQDYgAEzzzzzzzzzzzzzzzz\n-----END EC PRIVATE KEY-----\n";
  out.addSecret(pem);
  out.addSecret(token);
  out.addSecret("short");
  out.result(`token ${token}`);
  out.error(`echoed MIGkAgEBBDCabcdefghijklmnopqrstuvwxyz here`);
  out.progress("short is fine");
  out.warn("-----BEGIN EC PRIVATE KEY----- is a label, not a secret");
  assert.deepEqual(lines, [
    "1 token [redacted]",
    "2 error: echoed [redacted] here",
    "2 ... short is fine",
    "2 warning: -----BEGIN EC PRIVATE KEY----- is a label, not a secret",
  ]);
});

Deno.test("receipt and keys: transaction ids", async () => {
  assert.equal(txidOfCommitEvidence(`ce:2.15:${"ab".repeat(32)}`), "2.15");
  assert.equal(txidOfCommitEvidence("2.15"), undefined);
  assert.equal(checkTxid("2.20"), "2.20");
  const run = await runCli(["receipt", "2.x"]);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /must be <view>\.<seqno>, e\.g\. 2\.20, not 2\.x/);
});
