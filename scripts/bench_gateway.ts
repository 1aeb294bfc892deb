/**
 * Load benchmark of the OHTTP gateway: requests/s and p50/p99 latency through the gateway to a
 * trivial target, with 1, 8 and 32 keep-alive clients, next to the same clients posting to the
 * target alone. The target and the gateway run in child processes (this script with `--serve`),
 * so that the load generator does not share their event loop. The gateway holds one P-384 key,
 * released by a stand-in of the KMS client, so that only the OHTTP path is measured. Requests are
 * sealed beforehand (a pool of distinct encapsulations, used in turn) because sealing is the
 * client's cost, not the gateway's; answers are read whole but not opened.
 *
 *     deno run -A scripts/bench_gateway.ts [--seconds 3] [--requests 3000]
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import * as E from "fp-ts/lib/Either.js";
import { p384 } from "@noble/curves/nist.js";
import { toHex } from "../core/bytes.ts";
import { p384PrivateKey } from "../core/keys/privateKeyCbor.ts";
import {
  encodeKeyConfig,
  keyConfigFromHex,
  keyConfigToHex,
  p384KeyConfig,
} from "../core/ohttp/keyConfig.ts";
import type { VerifiedReceipt } from "../core/receipt/verify.ts";
import { CHUNKED_REQUEST_TYPE } from "../client/gateway/answers.ts";
import { createGateway } from "../client/gateway/gateway.ts";
import { postRequest } from "../client/gateway/sendRequest.ts";
import { encodeRequest } from "../client/ohttp/bhttp.ts";
import { encapsulateRequest } from "../client/ohttp/encapsulation.ts";
import { waitForInterrupt } from "./common.ts";
import { type LoadResult, runLoad } from "./load.ts";

const LOOPBACK = "127.0.0.1";
const PROMPT = new TextEncoder().encode(JSON.stringify({ prompt: "x".repeat(256) }));
const POOL = 200;

const orThrow = <A>(r: E.Either<{ message: string }, A>): A => {
  if (E.isLeft(r)) throw new Error(r.left.message);
  return r.right;
};

/** Child: the trivial target, answering every request with a short JSON body. */
const serveTarget = () => {
  const server = Deno.serve({ hostname: LOOPBACK, port: 0, onListen: () => {} }, async (req) => {
    await req.arrayBuffer();
    return Response.json({ completion: "ok" });
  });
  console.log(`TARGET_URL=http://${LOOPBACK}:${server.addr.port}`);
  return server;
};

/** Child: a gateway with one fresh P-384 key, in front of `target`. */
const serveGateway = (target: string) => {
  const d = p384.utils.randomSecretKey();
  const point = p384.getPublicKey(d, false);
  const config = orThrow(p384KeyConfig(1, point));
  const privateKey = orThrow(
    p384PrivateKey({ kid: 1, d, x: point.slice(1, 49), y: point.slice(49) }),
  );
  const released = {
    keyId: 1,
    config,
    publicKey: toHex(encodeKeyConfig(config)),
    receipt: {} as unknown as VerifiedReceipt,
    privateKey,
  };
  const gateway = createGateway({
    kms: { releaseKey: () => Promise.resolve(E.right(released)) },
    token: () => Promise.resolve("bench"),
    unwrap: () => Promise.reject(new Error("never asked")),
    target: new URL(target),
  });
  const server = Deno.serve({ hostname: LOOPBACK, port: 0, onListen: () => {} }, gateway.handle);
  console.log(`GATEWAY_URL=http://${LOOPBACK}:${server.addr.port}/score`);
  console.log(`KEY_CONFIG=${keyConfigToHex(config)}`);
  return server;
};

/** A child process running this script with `args`; resolves the values it prints as NAME=... */
const spawn = (args: string[]) => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", fileURLToPath(import.meta.url), ...args],
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
  let output = "";
  const printed = (name: string) =>
    new Promise<string>((resolve) => {
      const check = () => {
        const m = new RegExp(`${name}=(\\S+)`).exec(output);
        if (m) resolve(m[1]);
        else setTimeout(check, 20);
      };
      check();
    });
  const drained = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) output += chunk;
  })();
  return {
    printed,
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
      await drained;
    },
  };
};

const main = async () => {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      serve: { type: "string" },
      target: { type: "string" },
      seconds: { type: "string", default: "3" },
      requests: { type: "string", default: "3000" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log("deno run -A scripts/bench_gateway.ts [--seconds 3] [--requests 3000]");
    return;
  }
  if (values.serve !== undefined) {
    const server = values.serve === "target" ? serveTarget() : serveGateway(values.target!);
    await waitForInterrupt();
    return await server.shutdown();
  }
  const seconds = Number(values.seconds);
  const budget = Number(values.requests);
  const target = spawn(["--serve", "target"]);
  const targetUrl = await target.printed("TARGET_URL");
  const gateway = spawn(["--serve", "gateway", "--target", targetUrl]);
  try {
    const gatewayUrl = await gateway.printed("GATEWAY_URL");
    const config = orThrow(keyConfigFromHex(await gateway.printed("KEY_CONFIG")));
    console.error(`sealing ${POOL} requests...`);
    const bhttp = orThrow(
      encodeRequest(postRequest("/v1/completions", PROMPT, "application/json")),
    );
    const sealed: Uint8Array<ArrayBuffer>[] = [];
    for (let i = 0; i < POOL; i++) {
      sealed.push(orThrow(await encapsulateRequest(config, bhttp)).body.slice());
    }
    const results: LoadResult[] = [];
    for (const clients of [1, 8, 32]) {
      for (
        const [name, request] of [
          [
            "target alone",
            () => new Request(`${targetUrl}/v1/completions`, { method: "POST", body: PROMPT }),
          ],
          ["through the gateway", (i: number) =>
            new Request(gatewayUrl, {
              method: "POST",
              headers: { "content-type": CHUNKED_REQUEST_TYPE },
              body: sealed[i % POOL],
            })],
        ] as const
      ) {
        const r = await runLoad(
          { name, request, connect: () => Deno.createHttpClient({}) },
          clients,
          budget,
          seconds,
        );
        results.push(r);
        console.error(
          `${r.name} x${r.clients}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50.toFixed(2)} ms, ` +
            `p99 ${r.p99.toFixed(2)} ms (${r.requests} requests, ${r.errors} non-200)`,
        );
      }
    }
    console.log("| path | clients | requests | req/s | p50 ms | p99 ms | non-200 |");
    console.log("|---|---:|---:|---:|---:|---:|---:|");
    for (const r of results) {
      console.log(
        `| ${r.name} | ${r.clients} | ${r.requests} | ${r.rps.toFixed(0)} | ${
          r.p50.toFixed(2)
        } | ` +
          `${r.p99.toFixed(2)} | ${r.errors} |`,
      );
    }
  } finally {
    await gateway.stop();
    await target.stop();
  }
};

if (import.meta.main) await main();
