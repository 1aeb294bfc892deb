import assert from "node:assert/strict";
import { BundleError, createAppRuntime } from "../../../../ccf/sandbox/quickjs/mod.ts";
import { bundleOf, ep, Harness, json, text } from "./_harness.ts";

const echo = `
export function echo(request) {
  return { body: {
    handler: "echo",
    headers: request.headers, params: request.params, query: request.query, path: request.path,
    url: request.url, route: request.route, method: request.method, hostname: request.hostname,
    caller: request.caller, keys: Object.keys(request),
  } };
}
export function fixed() { return { body: "fixed" }; }
export function post() { return { body: "post" }; }
`;

const app = () =>
  createAppRuntime(bundleOf({
    "/person/{name}": { get: ep("app.js", "echo") },
    "/person/fixed": { get: ep("app.js", "fixed") },
    "/orders/{id}/items/{item}": { get: ep("app.js", "echo"), post: ep("app.js", "post") },
  }, { "app.js": echo }));

Deno.test("dispatch: templated params, raw query, request fields in CCF's order", async () => {
  const h = new Harness(await app());
  const r = h.run({
    method: "get",
    path: "/app/person/bob%20x",
    query: "a=1&b=%20",
    headers: { Host: "127.0.0.1:8000", "X-Custom": "v" },
    caller: { policy: "jwt", jwt: { keyIssuer: "i", header: {}, payload: { sub: "s" } } },
  });
  assert.equal(r.status, 200);
  assert.deepEqual(json(r), {
    handler: "echo",
    headers: { host: "127.0.0.1:8000", "x-custom": "v" },
    params: { name: "bob%20x" },
    query: "a=1&b=%20",
    path: "/app/person/bob%20x",
    url: "/app/person/bob%20x?a=1&b=%20",
    route: "/app/person/{name}",
    method: "GET",
    hostname: "127.0.0.1:8000",
    caller: { policy: "jwt", jwt: { keyIssuer: "i", header: {}, payload: { sub: "s" } } },
    keys: [
      "headers",
      "query",
      "path",
      "method",
      "hostname",
      "route",
      "url",
      "params",
      "body",
      "caller",
    ],
  });
  h.app.dispose();
});

Deno.test("dispatch: unprefixed paths, exact match before templates, null caller", async () => {
  const h = new Harness(await app());
  assert.equal(text(h.run("/person/fixed")), "fixed");
  const r = json(h.run("/person/alice")) as Record<string, unknown>;
  assert.equal(r.path, "/person/alice");
  assert.equal(r.url, "/person/alice");
  assert.equal(r.query, "");
  assert.equal(r.hostname, null);
  assert.equal(r.caller, null);
  const two = json(h.run("/app/orders/7/items/x")) as Record<string, unknown>;
  assert.deepEqual(two.params, { id: "7", item: "x" });
  h.app.dispose();
});

Deno.test("dispatch: 404 ResourceNotFound, 405 with Allow, OPTIONS 204", async () => {
  const h = new Harness(await app());
  const missing = h.run("/app/nothing/here");
  assert.equal(missing.status, 404);
  assert.deepEqual(json(missing), {
    error: { code: "ResourceNotFound", message: "Unknown path: /nothing/here." },
  });
  assert.equal(h.run("/app/person/a/b").status, 404);
  const wrong = h.run({ method: "DELETE", path: "/app/orders/1/items/2" });
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.allow, "OPTIONS, GET, POST");
  assert.deepEqual(json(wrong), {
    error: {
      code: "UnsupportedHttpVerb",
      message: "Allowed methods for '/orders/1/items/2' are: OPTIONS, GET, POST.",
    },
  });
  assert.equal(wrong.applyWrites, false);
  const options = h.run({ method: "OPTIONS", path: "/person/x" });
  assert.equal(options.status, 204);
  assert.equal(options.headers.allow, "OPTIONS, GET");
  assert.equal(text(h.run({ method: "POST", path: "/orders/1/items/2" })), "post");
  h.app.dispose();
});

Deno.test("dispatch: route() exposes the match for authentication, endpoints() the table", async () => {
  const runtime = await app();
  const m = runtime.route("GET", "/app/person/carol");
  assert.equal(m.kind, "endpoint");
  if (m.kind === "endpoint") {
    assert.deepEqual(m.params, { name: "carol" });
    assert.deepEqual(m.endpoint.properties.authn_policies, []);
  }
  assert.deepEqual(
    runtime.endpoints().map((e) => `${e.method} ${e.path}`),
    [
      "GET /orders/{id}/items/{item}",
      "POST /orders/{id}/items/{item}",
      "GET /person/fixed",
      "GET /person/{name}",
    ],
  );
  runtime.dispose();
});

Deno.test("dispatch: bundles CCF's constitution would refuse are rejected", async () => {
  await assert.rejects(
    createAppRuntime(bundleOf({ "/x": { get: ep("missing.js", "f") } }, { "app.js": "" })),
    BundleError,
  );
  await assert.rejects(
    createAppRuntime(
      bundleOf({ "/x": { get: ep("app.js", "f", { mode: "sometimes" as "readonly" }) } }, {
        "app.js": "",
      }),
    ),
    /unknown mode/,
  );
});
