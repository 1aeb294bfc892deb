import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("../../../../scripts/idp.ts", import.meta.url));

const run = async (args: string[]) => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SCRIPT, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
};

Deno.test("deno task idp --help prints the usage", async () => {
  const { code, stdout } = await run(["--help"]);
  assert.equal(code, 0);
  assert.match(
    stdout,
    /^Usage: deno task idp \[--workspace DIR\] \[--port PORT\] \[--issuer ISS\] \[--https\]/,
  );
  assert.match(stdout, /omit=/);
  assert.match(stdout, /POST \/rotate/);
  assert.match(stdout, /trust-issuer <URL> --auto-refresh --ca-cert-bundle/);
});

Deno.test("bad arguments exit 2 with the reason and the usage", async () => {
  for (
    const [args, reason] of [
      [["--port", "70000"], /--port must be an integer/],
      [["--port", "-1"], /--port/],
      [["--issuer", "not a url"], /--issuer must be a URL/],
      [["--bogus"], /bogus/],
    ] as const
  ) {
    const { code, stderr } = await run([...args]);
    assert.equal(code, 2, args.join(" "));
    assert.match(stderr, reason);
    assert.match(stderr, /Usage:/);
  }
});

Deno.test({
  name: "the issuer prints its URLs and the env line, serves, and stops on SIGINT",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const workspace = await Deno.makeTempDir({ prefix: "idp-cli-test-" });
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", SCRIPT, "--workspace", workspace, "--port", "0"],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    try {
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let banner = "";
      while (!banner.includes("Ctrl-C")) {
        const { value, done } = await reader.read();
        if (done) break;
        banner += value;
      }
      const url = banner.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/)?.[1];
      assert.ok(url, banner);
      assert.ok(banner.includes(`POST ${url}/token`));
      assert.ok(banner.includes(`GET  ${url}/keys`));
      assert.ok(banner.includes(`export AadEndpoint=${url}/token`));
      assert.ok(banner.includes("http://Demo-jwt-issuer"));

      const response = await fetch(`${url}/token`, { method: "POST" });
      const { access_token: token } = await response.json();
      assert.equal(response.status, 200);

      child.kill("SIGINT");
      let rest = "";
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
        rest += chunk.value;
      }
      assert.match(rest, /POST \/token 200/);
      assert.match(rest, /stopped/);
      assert.ok(!rest.includes(token));
      assert.ok(!rest.includes(token.split(".")[1]));
      const status = await child.status;
      assert.equal(status.code, 0);
    } finally {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already exited, as it should have.
      }
      await child.stderr.cancel().catch(() => {});
      await child.status;
      await Deno.remove(workspace, { recursive: true });
    }
  },
});
