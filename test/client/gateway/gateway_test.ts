import assert from "node:assert/strict";
import * as E from "fp-ts/lib/Either.js";
import { toHex } from "../../../core/bytes.ts";
import { encodeRequest } from "../../../client/ohttp/bhttp.ts";
import { encapsulateRequest } from "../../../client/ohttp/encapsulation.ts";
import { CHUNKED_RESPONSE_TYPE, REQUEST_ID_HEADER } from "../../../client/gateway/answers.ts";
import { postRequest, sendOhttpRequest } from "../../../client/gateway/sendRequest.ts";
import {
  type Answer,
  ask,
  type EchoTarget,
  errorCode,
  fakeKms,
  makeKey,
  serveGateway,
  startEchoTarget,
  testGateway,
  TOKEN,
} from "./_harness.ts";
import type { Gateway, GatewayOptions } from "../../../client/gateway/mod.ts";
import type { ReleasedKey } from "../../../client/kms/client.ts";

const right = <A>(r: E.Either<{ message: string }, A>): A => {
  if (E.isLeft(r)) assert.fail(`expected Right, got Left: ${r.left.message}`);
  return r.right;
};

/** Runs `body` with an echo target and a served gateway over a fake KMS holding `keys`. */
const withGateway = async (
  keys: ReleasedKey[],
  body: (
    env: { target: EchoTarget; url: URL; kms: ReturnType<typeof fakeKms>; logs: string[] },
  ) => Promise<void>,
  options: Partial<GatewayOptions> = {},
) => {
  const target = startEchoTarget();
  const kms = fakeKms(...keys);
  const logs: string[] = [];
  const gateway = serveGateway(
    testGateway(kms, target.url, { log: (line) => logs.push(line), ...options }),
  );
  try {
    await body({ target, url: gateway.url, kms, logs });
  } finally {
    await gateway.close();
    await target.close();
  }
};

/** A sealed request for key `key` posting `data` to `path`, and the context to open its answer. */
const sealed = async (key: ReleasedKey, path = "/v1/echo", data = "hello") => {
  const bhttp = right(encodeRequest(postRequest(path, new TextEncoder().encode(data))));
  return right(await encapsulateRequest(key.config, bhttp));
};

const post = (body: Uint8Array, headers: HeadersInit = {}) =>
  new Request("http://gateway.test/score", {
    method: "POST",
    body: new Uint8Array(body),
    headers,
  });

const assertError = (answer: Answer, status: number, code: string) => {
  assert.equal(answer.status, status, answer.text);
  assert.equal(answer.sealed, false);
  assert.equal(errorCode(answer), code);
};

Deno.test("round trip: client -> gateway -> target -> client, with the target's status", async () => {
  const key = makeKey(1);
  await withGateway([key], async ({ target, url, kms }) => {
    const answer = await ask(url, key.config, "/v1/chat?model=x", "a secret prompt");
    assert.equal(answer.status, 200);
    assert.equal(answer.sealed, true);
    assert.equal(answer.text, "POST /v1/chat\na secret prompt");
    assert.equal(answer.headers.get("content-type"), CHUNKED_RESPONSE_TYPE);
    assert.equal(answer.headers.get("x-echo"), "yes", "the target's headers are passed on");
    assert.match(answer.headers.get(REQUEST_ID_HEADER) ?? "", /^[0-9a-f-]{36}$/);

    assert.equal(target.seen.length, 1);
    assert.equal(target.seen[0].method, "POST");
    assert.equal(target.seen[0].path, "/v1/chat?model=x");
    assert.equal(target.seen[0].headers.get("content-type"), "text/plain");
    assert.equal(target.seen[0].body, "a secret prompt");
    assert.deepEqual(kms.calls, [1]);
    assert.deepEqual(kms.tokens, [TOKEN]);

    const again = await ask(url, key.config, "/v2", "twice");
    assert.equal(again.text, "POST /v2\ntwice");
    assert.deepEqual(kms.calls, [1], "the key is cached per key id");
  });
});

Deno.test("the enginetarget header replaces the inner path, and a target error keeps its status", async () => {
  const key = makeKey(7);
  await withGateway([key], async ({ target, url }) => {
    const routed = await ask(url, key.config, "/ignored", "x", { enginetarget: "/engine/run" });
    assert.equal(routed.text, "POST /engine/run\nx");
    assert.equal(target.seen[0].path, "/engine/run");

    const failed = await ask(url, key.config, "/v1?status=418", "teapot");
    assert.equal(failed.status, 418);
    assert.equal(failed.sealed, true, "a target error is sealed like any answer");
    assert.equal(failed.text, "POST /v1\nteapot");

    const empty = await ask(url, key.config, "/v1?status=204", "");
    assert.equal(empty.status, 204);
    assert.equal(empty.text, "");
  });
});

Deno.test("a streamed target answer arrives in several chunks", async () => {
  const key = makeKey(2);
  const data = "0123456789".repeat(10);
  await withGateway([key], async ({ url }) => {
    const response = right(
      await sendOhttpRequest({
        url,
        config: key.config,
        request: postRequest("/stream?pieces=5", new TextEncoder().encode(data)),
      }),
    );
    const chunks: Uint8Array[] = [];
    for await (const chunk of response.body) chunks.push(chunk);
    assert.ok(chunks.length >= 2, `expected several chunks, got ${chunks.length}`);
    assert.equal(
      new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c]))),
      `POST /stream\n${data}`,
    );
  });
});

Deno.test("every piece of the target's body is sealed as one chunk, then an empty final chunk", async () => {
  const key = makeKey(3);
  const pieces = ["alpha", "beta", "gamma", "delta"];
  const streamingTarget: typeof fetch = () =>
    Promise.resolve(
      new Response(ReadableStream.from(pieces.map((p) => new TextEncoder().encode(p)))),
    );
  const gateway = testGateway(fakeKms(key), new URL("http://target.test"), {
    fetch: streamingTarget,
  });
  const request = await sealed(key);
  const response = await gateway.handle(post(request.body));
  assert.equal(response.status, 200);
  const chunks = right(await request.context.openChunkedResponse(await response.bytes()));
  assert.deepEqual(chunks.map((c) => new TextDecoder().decode(c)), [...pieces, ""]);

  const failing: typeof fetch = () =>
    Promise.resolve(new Response("no such model", { status: 404 }));
  const errorGateway = testGateway(fakeKms(key), new URL("http://target.test"), {
    fetch: failing,
  });
  const second = await sealed(key);
  const notFound = await errorGateway.handle(post(second.body));
  assert.equal(notFound.status, 404);
  const one = right(await second.context.openChunkedResponse(await notFound.bytes()));
  assert.deepEqual(one.map((c) => new TextDecoder().decode(c)), ["no such model"]);
});

Deno.test("a client that leaves mid-answer cancels the target's body", async () => {
  const key = makeKey(16);
  let cancelled = false;
  const endless: typeof fetch = () =>
    Promise.resolve(
      new Response(
        new ReadableStream<Uint8Array>({
          pull: (controller) => controller.enqueue(new TextEncoder().encode("token ")),
          cancel: () => {
            cancelled = true;
          },
        }),
      ),
    );
  const gateway = testGateway(fakeKms(key), new URL("http://target.test"), { fetch: endless });
  const response = await gateway.handle(post((await sealed(key)).body));
  const reader = response.body!.getReader();
  await reader.read();
  await reader.read();
  await reader.cancel();
  assert.ok(cancelled);
});

Deno.test("a rotated key (a new key id) is fetched on first use, the old one stays cached", async () => {
  const first = makeKey(1);
  const second = makeKey(2);
  await withGateway([first], async ({ url, kms }) => {
    assert.equal((await ask(url, first.config, "/", "one")).status, 200);
    kms.keys.set(2, second);
    const rotated = await ask(url, second.config, "/", "two");
    assert.equal(rotated.status, 200);
    assert.equal(rotated.text, "POST /\ntwo");
    assert.equal((await ask(url, first.config, "/", "old")).status, 200);
    assert.deepEqual(kms.calls, [1, 2]);
  });
});

Deno.test("an unknown key id is a 422, and the failure is cached for the failure TTL", async () => {
  let now = 1_000_000;
  const unknown = makeKey(9);
  await withGateway([], async ({ url, kms, target }) => {
    const first = await ask(url, unknown.config, "/", "x");
    assertError(first, 422, "UnknownKeyId");
    assert.match(JSON.parse(first.text).error.message, /key id 9/);
    assert.deepEqual(kms.calls, [9]);

    now += 59_000;
    assertError(await ask(url, unknown.config, "/", "x"), 422, "UnknownKeyId");
    assert.deepEqual(kms.calls, [9], "no KMS call within the failure TTL");

    now += 2_000;
    kms.keys.set(9, unknown);
    const later = await ask(url, unknown.config, "/", "x");
    assert.equal(later.status, 200, "retried once the cached failure expired");
    assert.deepEqual(kms.calls, [9, 9]);
    assert.equal(target.seen.length, 1, "only the request with a known key reached the target");
  }, { clock: () => now, failureTtlMs: 60_000 });
});

Deno.test("a key the KMS will not release is a 503 with retry-after, cached, never a crash", async () => {
  let now = 0;
  const key = makeKey(4);
  await withGateway([key], async ({ url, kms, logs }) => {
    kms.gate = () => Promise.reject(new TypeError("error sending request: connection refused"));
    const refused = await ask(url, key.config, "/", "x");
    assertError(refused, 503, "KeyUnavailable");
    assert.equal(refused.headers.get("retry-after"), "30");
    assert.ok(logs.some((l) => l.includes("key 4: unavailable: Internal")));

    now += 10_000;
    kms.gate = undefined;
    const cached = await ask(url, key.config, "/", "x");
    assertError(cached, 503, "KeyUnavailable");
    assert.equal(cached.headers.get("retry-after"), "20");
    assert.deepEqual(kms.calls, [4]);

    now += 20_000;
    assert.equal((await ask(url, key.config, "/", "x")).status, 200);
  }, { clock: () => now, failureTtlMs: 30_000 });

  const noToken = testGateway(fakeKms(key), new URL("http://target.test"), {
    token: () => Promise.reject(new Error("the issuer is down")),
  });
  const response = await noToken.handle(post((await sealed(key)).body));
  assert.equal(response.status, 503);
  await response.body?.cancel();
});

Deno.test("a tampered ciphertext is a 422 and the key stays usable", async () => {
  const key = makeKey(5);
  await withGateway([key], async ({ url, target, kms }) => {
    const request = await sealed(key);
    const tampered = request.body.slice();
    tampered[tampered.length - 3] ^= 0x01;
    const response = await fetch(url, { method: "POST", body: tampered });
    assert.equal(response.status, 422);
    assert.equal((await response.json()).error.code, "DecapsulationFailed");

    const badEnc = request.body.slice();
    badEnc[20] ^= 0xff;
    const off = await fetch(url, { method: "POST", body: badEnc });
    assert.equal(off.status, 422);
    await off.body?.cancel();

    assert.equal(target.seen.length, 0);
    assert.equal((await ask(url, key.config, "/", "fine")).status, 200);
    assert.deepEqual(kms.calls, [5]);
  });
});

Deno.test("truncated, empty and non-bhttp bodies are 4xx", async () => {
  const key = makeKey(6);
  await withGateway([key], async ({ url, target }) => {
    const request = await sealed(key);
    for (const length of [1, 7, 50, request.body.length - 1]) {
      const response = await fetch(url, { method: "POST", body: request.body.slice(0, length) });
      assert.equal(response.status, 422, `truncated to ${length} bytes`);
      await response.body?.cancel();
    }
    const empty = await fetch(url, { method: "POST" });
    assert.equal(empty.status, 400);
    assert.equal((await empty.json()).error.code, "InvalidRequest");

    const notBhttp = right(await encapsulateRequest(key.config, new TextEncoder().encode("hi")));
    const garbage = await fetch(url, { method: "POST", body: notBhttp.body.slice() });
    assert.equal(garbage.status, 400);
    assert.doesNotMatch(await garbage.text(), /hi/);
    assert.equal(target.seen.length, 0);
  });
});

Deno.test("a new gateway instance (a restart) fetches its keys again and works", async () => {
  const key = makeKey(8);
  const target = startEchoTarget();
  const kms = fakeKms(key);
  try {
    for (const run of [1, 2]) {
      const gateway = serveGateway(testGateway(kms, target.url));
      try {
        const answer = await ask(gateway.url, key.config, "/", `run ${run}`);
        assert.equal(answer.text, `POST /\nrun ${run}`);
      } finally {
        await gateway.close();
      }
    }
    assert.deepEqual(kms.calls, [8, 8]);
  } finally {
    await target.close();
  }
});

Deno.test("concurrent first requests for a key id share one release", async () => {
  const key = makeKey(10);
  let open!: () => void;
  const opened = new Promise<void>((resolve) => open = resolve);
  await withGateway([key], async ({ url, kms }) => {
    kms.gate = () => opened;
    const answers = Array.from({ length: 8 }, (_, i) => ask(url, key.config, "/", `n${i}`));
    await new Promise((resolve) => setTimeout(resolve, 50));
    open();
    const done = await Promise.all(answers);
    assert.deepEqual(done.map((a) => a.status), Array(8).fill(200));
    assert.deepEqual(done.map((a) => a.text), done.map((_, i) => `POST /\nn${i}`));
    assert.deepEqual(kms.calls, [10]);
  });
});

Deno.test("paths, methods and sizes the gateway does not serve", async () => {
  const key = makeKey(11);
  await withGateway([key], async ({ url, kms }) => {
    const wrongPath = await fetch(new URL("/other", url), { method: "POST", body: "x" });
    assert.equal(wrongPath.status, 404);
    await wrongPath.body?.cancel();
    const get = await fetch(url);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get("allow"), "POST");
    await get.body?.cancel();
    const tooLarge = await fetch(url, { method: "POST", body: new Uint8Array(2048) });
    assert.equal(tooLarge.status, 413);
    await tooLarge.body?.cancel();
    assert.deepEqual(kms.calls, [], "none of these reached the KMS");
  }, { maxRequestBytes: 1024 });
});

Deno.test("the client cannot move the request off the target", async () => {
  const key = makeKey(12);
  await withGateway([key], async ({ url, target }) => {
    for (const path of ["http://evil.test/x", "//evil.test/x", "/\\evil.test/x", "*", "x"]) {
      assertError(await ask(url, key.config, path, "x"), 400, "InvalidRequest");
    }
    for (const enginetarget of ["//evil.test", "http://evil.test/", "@evil.test"]) {
      assertError(await ask(url, key.config, "/", "x", { enginetarget }), 400, "InvalidRequest");
    }
    assert.equal(target.seen.length, 0);
  });
});

Deno.test("a target that does not answer is a 502", async () => {
  const key = makeKey(13);
  const gateway: Gateway = testGateway(fakeKms(key), new URL("http://target.test"), {
    fetch: () => Promise.reject(new TypeError("connection refused")),
  });
  const response = await gateway.handle(post((await sealed(key)).body));
  assert.equal(response.status, 502);
  assert.equal((await response.json()).error.code, "TargetUnreachable");
});

Deno.test("logs and error answers carry no plaintext, key or token", async () => {
  const key = makeKey(14);
  const secret = "my very secret prompt";
  const d = toHex(key.privateKey.d);
  await withGateway([key], async ({ url, logs }) => {
    const answers = [
      await ask(url, key.config, "/v1", secret),
      await ask(url, key.config, `/v1?status=500`, secret),
      await ask(url, key.config, `http://evil.test/${secret}`, secret),
      await ask(url, makeKey(15).config, "/v1", secret),
    ];
    assert.deepEqual(answers.map((a) => a.status), [200, 500, 400, 422]);
    for (const answer of answers.slice(2)) assert.doesNotMatch(answer.text, /secret/);
    assert.ok(logs.length >= 6);
    for (const line of logs) {
      assert.doesNotMatch(line, /secret|evil|\/v1/);
      assert.ok(!line.includes(TOKEN) && !line.includes(d), line);
    }
  });
});
