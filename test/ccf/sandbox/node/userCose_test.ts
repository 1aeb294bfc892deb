import assert from "node:assert/strict";
import { encode } from "cborg";
import { signCoseSign1 } from "../../../../ccf/gov/cose.ts";
import { SandboxNode } from "../../../../ccf/sandbox/node/node.ts";
import { writeAppBundle } from "../../../../ccf/sandbox/node/mod.ts";
import { usersInfo } from "../../../../ccf/sandbox/govTables.ts";
import type { AppBundle } from "../../../../ccf/sandbox/quickjs/mod.ts";
import type { NodeRequest } from "../../../../ccf/sandbox/node/types.ts";
import type { Identity } from "../../../../ccf/sandbox/node/workspace.ts";
import { tempWorkspace } from "./_harness.ts";

const encoder = new TextEncoder();
const COSE_CHALLENGE = 'COSE-SIGN1 realm="Signed request access"';

/** An app whose endpoints echo the caller CCF builds for `user_cose_sign1`. */
const app: AppBundle = {
  metadata: {
    endpoints: {
      "/signed": {
        post: {
          js_module: "app.js",
          js_function: "signed",
          mode: "readonly",
          forwarding_required: "never",
          authn_policies: ["user_cose_sign1"],
        },
      },
      "/either": {
        post: {
          js_module: "app.js",
          js_function: "signed",
          mode: "readonly",
          forwarding_required: "never",
          authn_policies: ["user_cose_sign1", "user_cert"],
        },
      },
    },
  },
  modules: [{
    name: "app.js",
    module: `
export function signed(request) {
  const c = request.caller;
  return {
    body: {
      keys: Object.keys(c),
      policy: c.policy,
      id: c.id,
      data: c.data,
      cert: c.cert,
      contentIsArrayBuffer: c.cose.content instanceof ArrayBuffer,
      content: ccf.bufToStr(c.cose.content),
      bodyBytes: request.body.arrayBuffer().byteLength,
    },
  };
}
`,
  }],
};

const post = (path: string, body: Uint8Array, contentType?: string): NodeRequest => ({
  method: "POST",
  path,
  query: "",
  headers: contentType === undefined ? {} : { "content-type": contentType },
  body,
});

const json = (body: Uint8Array) => JSON.parse(new TextDecoder().decode(body));

const signer = async (identity: Identity) => ({
  certPem: identity.certPem,
  keyPem: await Deno.readTextFile(identity.keyPath),
});

/** A tagged COSE_Sign1 with exactly these protected headers and a meaningless signature. */
const envelope = (headers: Map<number | string, unknown>, tag = true): Uint8Array => {
  const body = encode([encode(headers), new Map(), encoder.encode("{}"), new Uint8Array(96)]);
  return tag ? Uint8Array.of(0xd2, ...body) : body;
};

const withApp = async (fn: (node: SandboxNode) => Promise<void>) => {
  const ws = await tempWorkspace();
  const node = await SandboxNode.start({
    workspace: ws.dir,
    members: 1,
    users: 2,
    signatureIntervalMs: 0,
    log: () => {},
  });
  try {
    node.commitGovernance((tx) => {
      writeAppBundle(tx, app);
      tx.set(
        usersInfo,
        encoder.encode(node.workspace.users[0].id),
        encoder.encode(JSON.stringify({ user_data: { isAdmin: true } })),
      );
    });
    await node.appReady();
    await fn(node);
  } finally {
    await node.close();
    await ws.remove();
  }
};

Deno.test("user_cose_sign1: a request signed by a user reaches the handler with CCF's caller", async () => {
  await withApp(async (node) => {
    const [user0, user1] = node.workspace.users;
    const payload = encoder.encode('{"action":"rotate"}');
    const body = signCoseSign1(payload, await signer(user0), [
      ["ccf.msg.type", "rotate"],
      ["ccf.msg.created_at", 1700000000],
    ]);
    const r = await node.handle(post("/app/signed", body, "application/cose"));
    assert.equal(r.status, 200, new TextDecoder().decode(r.body));
    assert.deepEqual(json(r.body), {
      keys: ["cose", "policy", "id", "data", "cert"],
      policy: "user_cose_sign1",
      id: user0.id,
      data: { isAdmin: true },
      cert: user0.certPem,
      contentIsArrayBuffer: true,
      content: '{"action":"rotate"}',
      bodyBytes: body.length,
    });

    // Without user data, and without the optional message headers, as CCF allows.
    const plain = signCoseSign1(encoder.encode("x"), await signer(user1), []);
    const other = json((await node.handle(post("/signed", plain, "application/cose"))).body);
    assert.equal(other.id, user1.id);
    assert.equal(other.data, null);
    assert.equal(other.content, "x");
  });
});

Deno.test("user_cose_sign1: CCF's 401 for a wrong content type, an unknown signer, a bad signature", async () => {
  await withApp(async (node) => {
    const user = node.workspace.users[0];
    const member = node.workspace.members[0];
    const good = signCoseSign1(encoder.encode("{}"), await signer(user), []);

    const refusal = async (request: NodeRequest) => {
      const r = await node.handle(request);
      assert.equal(r.status, 401);
      assert.equal(r.headers["www-authenticate"], COSE_CHALLENGE);
      const { error } = json(r.body);
      assert.equal(error.code, "InvalidAuthenticationInfo");
      assert.equal(error.message, "Invalid authentication credentials.");
      assert.equal(error.details.length, 1);
      assert.equal(error.details[0].auth_policy, "user_cose_sign1");
      return error.details[0].message as string;
    };

    assert.equal(await refusal(post("/signed", good)), "Missing content-type header");
    assert.equal(
      await refusal(post("/signed", good, "application/json")),
      "Content type is not set to application/cose",
    );
    // A member is not a user, even with a valid signature.
    const byMember = signCoseSign1(encoder.encode("{}"), await signer(member), []);
    assert.equal(
      await refusal(post("/signed", byMember, "application/cose")),
      "Signer is not a known user",
    );
    const tampered = good.slice();
    tampered[tampered.length - 1] ^= 1;
    assert.equal(
      await refusal(post("/signed", tampered, "application/cose")),
      "Failed to validate COSE Sign1",
    );
    const eddsa = envelope(new Map<number, unknown>([[1, -8], [4, encoder.encode(user.id)]]));
    assert.equal(
      await refusal(post("/signed", eddsa, "application/cose")),
      "Unsupported algorithm: -8",
    );
  });
});

Deno.test("user_cose_sign1: an undecodable envelope or header fails the request with CCF's 500", async () => {
  await withApp(async (node) => {
    const id = encoder.encode(node.workspace.users[0].id);
    const cases: [Uint8Array, RegExp][] = [
      [encoder.encode("{}"), /^Parse COSE CBOR/],
      [envelope(new Map<number, unknown>([[1, -35], [4, id]]), false), /^Parse COSE tag/],
      [envelope(new Map<number, unknown>([[4, id]])), /^Parse alg in protected header/],
      [envelope(new Map<number, unknown>([[1, -35]])), /^Parse kid in protected header/],
      [
        envelope(new Map<number | string, unknown>([[1, -35], [4, id], ["ccf.msg.type", 7]])),
        /^Parse msg type in protected header/,
      ],
      [
        envelope(
          new Map<number | string, unknown>([[1, -35], [4, id], ["ccf.msg.created_at", -1]]),
        ),
        /^Parse created_at in protected header/,
      ],
    ];
    for (const [body, message] of cases) {
      const r = await node.handle(post("/signed", body, "application/cose"));
      assert.equal(r.status, 500);
      const { error } = json(r.body);
      assert.equal(error.code, "InternalError");
      assert.match(error.message, message);
    }
  });
});

Deno.test("user_cose_sign1: refused before user_cert, each policy reports, the last sets the challenge", async () => {
  await withApp(async (node) => {
    const r = await node.handle(post("/either", encoder.encode("{}"), "application/json"));
    assert.equal(r.status, 401);
    assert.equal(r.headers["www-authenticate"], undefined);
    assert.deepEqual(json(r.body).error.details, [
      {
        auth_policy: "user_cose_sign1",
        code: "InvalidAuthenticationInfo",
        message: "Content type is not set to application/cose",
      },
      {
        auth_policy: "user_cert",
        code: "InvalidAuthenticationInfo",
        message: "No caller user certificate",
      },
    ]);
  });
});
