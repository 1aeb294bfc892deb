import assert from "node:assert/strict";
import * as E from "fp-ts/lib/Either.js";
import { decapsulateRequest } from "../../../client/ohttp/encapsulation.ts";
import { importPrivateKey } from "../../../client/ohttp/suite.ts";
import { decodeRequest } from "../../../client/ohttp/bhttp.ts";
import {
  type OhttpResponse,
  postRequest,
  sendOhttpRequest,
} from "../../../client/gateway/sendRequest.ts";
import { CHUNKED_REQUEST_TYPE, CHUNKED_RESPONSE_TYPE } from "../../../client/gateway/answers.ts";
import { makeKey } from "./_harness.ts";

const key = makeKey(21);
const text = new TextEncoder();

/** A stand-in gateway that opens the request and answers `chunks`, cut by `cut` bytes. */
const gatewayAnswering = (chunks: string[], cut = 0): typeof fetch => async (input, init) => {
  const request = new Request(input, init);
  assert.equal(request.headers.get("content-type"), CHUNKED_REQUEST_TYPE);
  assert.equal(request.headers.get("enginetarget"), "/engine");
  const pair = await importPrivateKey(key.config, key.privateKey.d);
  if (E.isLeft(pair)) assert.fail(pair.left.message);
  const opened = await decapsulateRequest(pair.right, key.config, await request.bytes());
  if (E.isLeft(opened)) assert.fail(opened.left.message);
  const inner = decodeRequest(opened.right.request);
  assert.ok(E.isRight(inner));
  assert.equal(inner.right.path, "/v1");
  assert.equal(new TextDecoder().decode(inner.right.content), "prompt");
  const body = await opened.right.context.sealChunkedResponse(chunks.map((c) => text.encode(c)));
  if (E.isLeft(body)) assert.fail(body.left.message);
  return new Response(body.right.slice(0, body.right.length - cut), {
    status: 201,
    headers: { "content-type": CHUNKED_RESPONSE_TYPE },
  });
};

const send = async (fetcher: typeof fetch): Promise<OhttpResponse> => {
  const response = await sendOhttpRequest({
    url: "http://gateway.test/score",
    config: key.config,
    request: postRequest("/v1", text.encode("prompt")),
    headers: { enginetarget: "/engine" },
    fetch: fetcher,
  });
  if (E.isLeft(response)) assert.fail(response.left.message);
  return response.right;
};

Deno.test("a sealed answer is opened chunk by chunk", async () => {
  const response = await send(gatewayAnswering(["one ", "two ", "three"]));
  assert.equal(response.status, 201);
  assert.equal(response.sealed, true);
  const chunks: string[] = [];
  for await (const chunk of response.body) chunks.push(new TextDecoder().decode(chunk));
  assert.deepEqual(chunks, ["one ", "two ", "three"]);
});

Deno.test("a sealed answer without its final chunk makes the body stream fail", async () => {
  const response = await send(gatewayAnswering(["one ", "two"], 5));
  await assert.rejects(new Response(response.body).text(), /truncated|final chunk/);
});

Deno.test("the gateway's own errors come back unsealed", async () => {
  const response = await send(() =>
    Promise.resolve(Response.json({ error: { code: "UnknownKeyId" } }, { status: 422 }))
  );
  assert.equal(response.status, 422);
  assert.equal(response.sealed, false);
  assert.match(await new Response(response.body).text(), /UnknownKeyId/);
});

Deno.test("an unreachable gateway is a Left", async () => {
  const response = await sendOhttpRequest({
    url: "http://gateway.test/score",
    config: key.config,
    request: postRequest("/", new Uint8Array(0)),
    fetch: () => Promise.reject(new TypeError("connection refused")),
  });
  assert.ok(E.isLeft(response));
  assert.match(response.left.message, /could not be reached.*connection refused/);
});
