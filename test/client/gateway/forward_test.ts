import assert from "node:assert/strict";
import * as E from "fp-ts/lib/Either.js";
import { outerHeaders, targetRequest, targetUrl } from "../../../client/gateway/forward.ts";
import type { BhttpRequest } from "../../../client/ohttp/bhttp.ts";

const target = new URL("http://127.0.0.1:8080/ignored/prefix");

const inner = (fields: Partial<BhttpRequest> = {}): BhttpRequest => ({
  method: "POST",
  scheme: "https",
  authority: "elsewhere.test",
  path: "/v1/score",
  headers: [],
  content: new TextEncoder().encode("prompt"),
  ...fields,
});

const url = (path: string, engineTarget: string | null = null): string => {
  const u = targetUrl(target, path, engineTarget);
  if (E.isLeft(u)) assert.fail(u.left);
  return u.right.href;
};

Deno.test("the target URL is the target's origin with the client's path and query", () => {
  assert.equal(url("/v1/score?x=1&y"), "http://127.0.0.1:8080/v1/score?x=1&y");
  assert.equal(url(""), "http://127.0.0.1:8080/");
  assert.equal(url("/inner", "/engine?q=2"), "http://127.0.0.1:8080/engine?q=2");
  assert.equal(url("/a/../b"), "http://127.0.0.1:8080/b");
});

Deno.test("paths that are not origin-form or leave the target are refused, without echoing them", () => {
  for (const path of ["http://evil.test/", "//evil.test/", "/\\evil.test", "*", "v1", "/a b"]) {
    const u = targetUrl(target, path, null);
    assert.ok(E.isLeft(u), path);
    assert.ok(!u.left.includes("evil"), u.left);
  }
  const engine = targetUrl(target, "/fine", "@evil.test");
  assert.ok(E.isLeft(engine));
  assert.match(engine.left, /enginetarget/);
});

Deno.test("the target request keeps method, end-to-end headers and content", async () => {
  const request = targetRequest(
    inner({
      headers: [
        ["Content-Type", "application/json"],
        ["x-trace", "1"],
        ["connection", "close"],
        ["host", "elsewhere.test"],
        ["content-length", "999"],
        ["transfer-encoding", "chunked"],
      ],
    }),
    new URL("http://127.0.0.1:8080/v1"),
  );
  if (E.isLeft(request)) assert.fail(request.left);
  const r = request.right;
  assert.equal(r.method, "POST");
  assert.equal(r.url, "http://127.0.0.1:8080/v1");
  assert.equal(r.redirect, "manual", "the gateway never follows a redirect elsewhere");
  assert.deepEqual([...r.headers], [["content-type", "application/json"], ["x-trace", "1"]]);
  assert.equal(await r.text(), "prompt");
});

Deno.test("malformed inner requests are refused without quoting them", () => {
  const cases: BhttpRequest[] = [
    inner({ headers: [["bad name", "secret-value"]] }),
    inner({ headers: [["x", "secret\nvalue"]] }),
    inner({ method: "GET" }),
    inner({ method: "BAD METHOD" }),
    inner({ method: "CONNECT", content: new Uint8Array(0) }),
  ];
  for (const c of cases) {
    const r = targetRequest(c, new URL("http://127.0.0.1:8080/"));
    assert.ok(E.isLeft(r), c.method);
    assert.doesNotMatch(r.left, /secret|BAD/);
  }
  const get = targetRequest(inner({ method: "GET", content: new Uint8Array(0) }), target);
  assert.ok(E.isRight(get));
  assert.equal(get.right.body, null);
});

Deno.test("outer headers drop those that describe the target's body or connection", () => {
  const headers = outerHeaders(
    new Headers([
      ["content-type", "text/event-stream"],
      ["content-length", "12"],
      ["content-encoding", "gzip"],
      ["set-cookie", "session=1"],
      ["connection", "keep-alive"],
      ["x-model", "phi"],
    ]),
    { "x-ms-client-request-id": "id" },
  );
  assert.deepEqual([...headers], [["x-model", "phi"], ["x-ms-client-request-id", "id"]]);
});
