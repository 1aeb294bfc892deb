import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import * as E from "fp-ts/lib/Either.js";
import { verifyReceipt } from "../../../../core/receipt/verify.ts";
import { denoReceiptCrypto } from "../../../../client/receiptCrypto.ts";
import { Ledger } from "../../../../ccf/sandbox/ledger/ledger.ts";
import { nodeSigner } from "../../../../ccf/sandbox/node/signer.ts";
import { nodeIdOf } from "../../../../ccf/sandbox/node/certificates.ts";
import { workspacePaths } from "../../../../ccf/sandbox/node/workspace.ts";
import { LEDGER_FILE } from "../../../../ccf/sandbox/ledger/ledgerFile.ts";
import { call, callUntilFetched, kmsBundle, seqnoOf, tempWorkspace } from "./_harness.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "../../../..");
const encoder = new TextEncoder();

/** `deno task sandbox` as a child process, with its stdout drained line by line. */
class SandboxProcess {
  readonly #child: Deno.ChildProcess;
  readonly #drained: Promise<void>;
  readonly url: Promise<string>;
  output = "";

  constructor(args: string[]) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(root, "scripts/sandbox.ts"), ...args],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
    let found: (url: string) => void;
    let missing: (e: Error) => void;
    this.url = new Promise((resolve, reject) => {
      found = resolve;
      missing = reject;
    });
    const read = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        this.output += chunk;
        const m = /export KMS_URL=(\S+)/.exec(this.output);
        if (m) found(m[1]);
      }
    };
    this.#drained = Promise.all([read(this.#child.stdout), read(this.#child.stderr)]).then(() =>
      missing(new Error(`the sandbox exited before listening:\n${this.output}`))
    );
  }

  async stop(signal: Deno.Signal): Promise<Deno.CommandStatus> {
    try {
      this.#child.kill(signal);
    } catch {
      // Already exited.
    }
    const status = await this.#child.status;
    await this.#drained;
    return status;
  }
}

Deno.test("sandbox process: kill -9 mid-write loses no signed write; lost ids read Invalid", async () => {
  const ws = await tempWorkspace();
  const bundlePath = join(ws.dir, "bundle.json");
  await Deno.writeTextFile(bundlePath, JSON.stringify(await kmsBundle()));
  const workspace = join(ws.dir, "workspace");
  const args = [
    "--workspace",
    workspace,
    "--port",
    "0",
    "--members",
    "1",
    "--js-app-bundle",
    bundlePath,
    "--signature-interval-ms",
    "40",
  ];
  const paths = workspacePaths(workspace);
  let child = new SandboxProcess(args);
  const clients: Deno.HttpClient[] = [];
  try {
    let url = await child.url;
    const serviceCertPem = await Deno.readTextFile(paths.serviceCert);
    const member = Deno.createHttpClient({
      caCerts: [serviceCertPem],
      cert: await Deno.readTextFile(paths.identityCert("member0")),
      key: await Deno.readTextFile(paths.identityKey("member0")),
    });
    clients.push(member);

    const acknowledged: { txId: string; publicKey: string }[] = [];
    let committed = 0;
    const receiptsBefore = new Map<string, string>();
    // Once some writes are signed, the kill is timed to land while later requests are in flight.
    let killer: ReturnType<typeof setTimeout> | undefined;
    try {
      for (let i = 0; i < 200; i++) {
        const r = await call(member, `${url}/app/refresh`, { method: "POST" });
        assert.equal(r.status, 200, r.text);
        acknowledged.push({
          txId: r.headers.get("x-ms-ccf-transaction-id")!,
          publicKey: r.json.publicKey,
        });
        if (i % 5 === 4) {
          const c = await call(member, `${url}/app/commit`);
          committed = Math.max(committed, seqnoOf(c.json.transaction_id));
        }
        const signedSoFar = acknowledged.filter((a) => seqnoOf(a.txId) <= committed);
        if (killer === undefined && signedSoFar.length >= 10) {
          for (const { txId } of signedSoFar.slice(0, 3)) {
            const r = await callUntilFetched(member, `${url}/app/receipt?transaction_id=${txId}`);
            receiptsBefore.set(txId, r.text);
          }
          killer = setTimeout(() => void child.stop("SIGKILL"), 20 + Math.random() * 100);
        }
      }
    } catch (e) {
      // The connection broke: the node was killed in the middle of the loop.
      assert.ok(e instanceof TypeError, String(e));
    } finally {
      clearTimeout(killer);
    }
    const killed = await child.stop("SIGKILL");
    assert.equal(killed.signal, "SIGKILL");
    assert.ok(killer !== undefined, "fewer than 10 writes were signed in 200 requests");
    const signed = acknowledged.filter((a) => seqnoOf(a.txId) <= committed);
    assert.ok(signed.length > 0, "no acknowledged write was signed before the kill");

    child = new SandboxProcess(args);
    url = await child.url;
    const reader = Deno.createHttpClient({ caCerts: [serviceCertPem] });
    clients.push(reader);
    let survivors = 0;
    for (const { txId, publicKey } of acknowledged) {
      const status = await call(reader, `${url}/app/tx?transaction_id=${txId}`);
      if (seqnoOf(txId) <= committed) assert.equal(status.json.status, "Committed", txId);
      // The restart began a new view: a write the kill lost can never read Committed.
      if (status.json.status !== "Committed") {
        assert.equal(status.json.status, "Invalid", txId);
        continue;
      }
      // Whatever is committed now is that very write: its receipt vouches for its key.
      const receipt = await callUntilFetched(reader, `${url}/app/receipt?transaction_id=${txId}`);
      const verified = verifyReceipt(denoReceiptCrypto, {
        receipt: receipt.json,
        serviceCertPem,
        expected: { claim: encoder.encode(publicKey) },
      });
      assert.ok(E.isRight(verified), `${txId}: ${JSON.stringify(verified)}`);
      survivors++;
    }
    assert.ok(survivors >= signed.length);
    for (const [txId, before] of receiptsBefore) {
      const after = await callUntilFetched(reader, `${url}/app/receipt?transaction_id=${txId}`);
      assert.equal(after.text, before, `${txId}'s receipt changed`);
    }
    // Every signed key is still served, by its OHTTP id (the listing shows only the newest).
    for (const { publicKey } of signed) {
      const kid = parseInt(publicKey.slice(0, 2), 16);
      const served = await callUntilFetched(reader, `${url}/app/pubkey?kid=${kid}`);
      assert.equal(served.json.publicKey, publicKey);
    }

    const stopped = await child.stop("SIGTERM");
    assert.equal(stopped.code, 0, child.output);
    // A clean stop leaves a ledger that replays and verifies in full, every transaction signed.
    const nodeKeyPem = await Deno.readTextFile(paths.nodeKey);
    const signer = nodeSigner(
      nodeKeyPem,
      await Deno.readTextFile(paths.nodeCert),
      nodeIdOf(nodeKeyPem),
    );
    const serviceCertPem2 = await Deno.readTextFile(paths.serviceCert);
    const opened = Ledger.open(paths.ledgerDir, { signer, serviceCertPem: serviceCertPem2 });
    try {
      assert.equal(opened.recovery, null);
      assert.equal(opened.ledger.lastSignedSeqno, opened.ledger.size);
      assert.ok(opened.ledger.size >= committed);
    } finally {
      opened.ledger.close();
    }
  } finally {
    for (const c of clients) c.close();
    await child.stop("SIGKILL");
    await ws.remove();
  }
});

Deno.test("sandbox process: a damaged ledger stops the start with exit 1; the flag recovers", async () => {
  const ws = await tempWorkspace();
  const workspace = join(ws.dir, "workspace");
  const args = ["--workspace", workspace, "--port", "0", "--members", "1"];
  try {
    let child = new SandboxProcess(args);
    await child.url;
    assert.equal((await child.stop("SIGTERM")).code, 0, child.output);
    // Flip the genesis transaction's view: its signature no longer covers what the file says.
    const file = join(workspacePaths(workspace).ledgerDir, LEDGER_FILE);
    const text = await Deno.readTextFile(file);
    await Deno.writeTextFile(file, text.replace('{"seqno":1,"view":2,', '{"seqno":1,"view":3,'));

    child = new SandboxProcess(args);
    await assert.rejects(child.url);
    const refused = await child.stop("SIGKILL");
    assert.equal(refused.code, 1, child.output);
    assert.match(child.output, /sandbox: Ledger .*seqno \d+ \(line \d+\).*changed no file/s);
    assert.doesNotMatch(child.output, /\n\s+at /, "no stack trace for the operator");

    child = new SandboxProcess([...args, "--recover-to-last-good-signature"]);
    await child.url;
    assert.match(child.output, /committed transaction\(s\) were lost/);
    assert.equal((await child.stop("SIGTERM")).code, 0, child.output);
  } finally {
    await ws.remove();
  }
});
