import assert from "node:assert/strict";
import { EXCEPTION_BODY, Harness, json, singleModuleApp, text } from "./_harness.ts";

const handlers = {
  jsonBody: `() => ({ body: { a: [1, "x"], b: null } })`,
  stringBody: `() => ({ body: "héllo" })`,
  bufferBody: `() => ({ body: ccf.strToBuf("raw") })`,
  typedArrayBody: `() => ({ body: new Uint8Array([0, 1, 2, 3, 4, 5]).subarray(2, 4) })`,
  dataViewBody: `() => ({ body: new DataView(new ArrayBuffer(2)) })`,
  noBody: `() => ({ statusCode: 204 })`,
  created: `() => ({ statusCode: 201, body: "c", headers: { "retry-after": 3, "X-Flag": true } })`,
  contentType: `() => ({ body: "<a/>", headers: { "content-type": "application/xml" } })`,
  floatStatus: `() => ({ statusCode: 0.5 * 400, body: "x" })`,
  stringStatus: `() => ({ statusCode: "200" })`,
  divisionStatus: `() => ({ statusCode: 404 / 1 })`,
  nullStatus: `() => ({ statusCode: null, body: "ok" })`,
  notObject: `() => 42`,
  nullResult: `() => null`,
  throws: `() => { throw new Error("secret detail"); }`,
  throwsString: `() => { throw "plain"; }`,
  async:
    `async () => { ccf.kv.m.set(ccf.strToBuf("k"), ccf.strToBuf("v")); return { body: "never" }; }`,
  promise: `() => Promise.resolve({ body: "never" })`,
  bodyGetterThrows: `() => ({ get body() { throw new Error("no"); } })`,
  cyclicBody: `() => { const o = {}; o.self = o; return { body: o }; }`,
  functionBody: `() => ({ body: () => 1 })`,
  classInstance:
    `() => { class R { constructor() { this.statusCode = 202; this.success = false; } } return new R(); }`,
  requestBody:
    `(r) => ({ body: { text: r.body.text(), json: r.body.json(), len: r.body.arrayBuffer().byteLength } })`,
  emptyJson: `(r) => ({ body: r.body.json() })`,
  bodyArgs: `(r) => ({ body: r.body.text("x") })`,
};

const source = Object.entries(handlers).map(([k, v]) => `export const ${k} = ${v};`).join("\n");

const setup = async () =>
  new Harness(
    await singleModuleApp(source, Object.keys(handlers), { returnExceptionDetails: false }),
  );

Deno.test("response: bodies and default content types", async () => {
  const h = await setup();
  const j = h.run("/jsonBody");
  assert.equal(j.status, 200);
  assert.equal(j.headers["content-type"], "application/json");
  assert.equal(text(j), '{"a":[1,"x"],"b":null}');
  const s = h.run("/stringBody");
  assert.equal(s.headers["content-type"], "text/plain");
  assert.deepEqual(s.body, new TextEncoder().encode("héllo"));
  const b = h.run("/bufferBody");
  assert.equal(b.headers["content-type"], "application/octet-stream");
  assert.equal(text(b), "raw");
  assert.deepEqual([...h.run("/typedArrayBody").body], [2, 3]);
  const dv = h.run("/dataViewBody");
  assert.equal(dv.headers["content-type"], "application/json");
  assert.equal(text(dv), "{}");
  const none = h.run("/noBody");
  assert.equal(none.status, 204);
  assert.equal(none.body.length, 0);
  assert.deepEqual(none.headers, {});
  assert.equal(text(h.run("/functionBody")), "undefined");
  h.app.dispose();
});

Deno.test("response: status codes and headers", async () => {
  const h = await setup();
  const c = h.run("/created");
  assert.equal(c.status, 201);
  assert.deepEqual(c.headers, {
    "content-type": "text/plain",
    "retry-after": "3",
    "x-flag": "true",
  });
  assert.equal(h.run("/contentType").headers["content-type"], "application/xml");
  assert.equal(h.run("/divisionStatus").status, 404);
  assert.equal(h.run("/nullStatus").status, 200);
  const cls = h.run("/classInstance");
  assert.equal(cls.status, 202);
  assert.equal(cls.body.length, 0);
  h.app.dispose();
});

Deno.test("response: a status code that is not an int-tagged number is a 500", async () => {
  const h = await setup();
  for (const path of ["/floatStatus", "/stringStatus"]) {
    const r = h.run(path);
    assert.equal(r.status, 500);
    assert.deepEqual(json(r), {
      error: {
        code: "InternalError",
        message: "Invalid endpoint function return value (status code type).",
      },
    });
  }
  h.app.dispose();
});

Deno.test("response: a return value that is not an object is a 500", async () => {
  const h = await setup();
  for (const path of ["/notObject", "/nullResult"]) {
    assert.deepEqual(json(h.run(path)), {
      error: {
        code: "InternalError",
        message: "Invalid endpoint function return value (not an object).",
      },
    });
  }
  h.app.dispose();
});

Deno.test("response: exceptions are a 500 without details unless asked", async () => {
  const h = await setup();
  for (const path of ["/throws", "/throwsString"]) {
    const r = h.run(path);
    assert.equal(r.status, 500);
    assert.equal(r.headers["content-type"], "application/json");
    assert.deepEqual(json(r), EXCEPTION_BODY);
    assert.equal(r.applyWrites, false);
  }
  assert.deepEqual(json(h.run("/bodyGetterThrows")), {
    error: {
      code: "InternalError",
      message: "Invalid endpoint function return value (error reading body).",
    },
  });
  assert.deepEqual(json(h.run("/cyclicBody")), {
    error: {
      code: "InternalError",
      message: "Invalid endpoint function return value (error during JSON conversion of body).",
    },
  });
  h.app.dispose();
  const logs: string[] = [];
  const detailed = new Harness(
    await singleModuleApp(source, ["throws", "bodyGetterThrows"], {
      returnExceptionDetails: true,
      logExceptionDetails: true,
      logSink: (e) => logs.push(e.message),
    }),
  );
  const r = json(detailed.run("/throws")) as {
    error: { details: Array<{ code: string; message: string }> };
  };
  assert.equal(r.error.details[0].code, "JSException");
  assert.equal(r.error.details[0].message, "Error: secret detail");
  assert.match(logs.join("\n"), /secret detail/);
  // A failure while reading the return value carries the app's stack like any exception.
  const unreadable = json(detailed.run("/bodyGetterThrows")) as {
    error: { details: Array<{ code: string; trace?: string }> };
  };
  assert.equal(unreadable.error.details[0].code, "JSException");
  assert.match(unreadable.error.details[0].trace ?? "", /at /);
  detailed.app.dispose();
});

Deno.test("response: an async handler's Promise is an empty 200 and its writes are kept", async () => {
  const h = await setup();
  for (const path of ["/async", "/promise"]) {
    const r = h.run(path);
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 0);
    assert.deepEqual(r.headers, {});
  }
  assert.equal(h.store.lastSeqno, 1);
  h.app.dispose();
});

Deno.test("response: request body as text, JSON and ArrayBuffer", async () => {
  const h = await setup();
  const body = new TextEncoder().encode('{"n":1}');
  assert.deepEqual(json(h.run({ method: "GET", path: "/requestBody", body })), {
    text: '{"n":1}',
    json: { n: 1 },
    len: 7,
  });
  assert.deepEqual(json(h.run("/emptyJson")), EXCEPTION_BODY);
  assert.deepEqual(json(h.run("/bodyArgs")), EXCEPTION_BODY);
  h.app.dispose();
});
