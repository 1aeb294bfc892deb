import assert from "node:assert/strict";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { p384 } from "@noble/curves/nist.js";
import { toHex, utf8 } from "../../../core/bytes.ts";
import type { JsonText } from "../../../core/api/request.ts";
import { key, listpubkeys, pubkey, refresh } from "../../../core/endpoints/keys.ts";
import { decodePrivateKeyCbor } from "../../../core/keys/privateKeyCbor.ts";
import {
  jwtValidationTable,
  keyReleaseTable,
  keyRingTable,
  privateKeysTable,
  releaseCountTable,
  releasesTable,
  rotationTable,
} from "../../../core/tables.ts";
import { canonicalJson } from "../../../core/api/releaseRecord.ts";
import { calculateJwkThumbprint } from "jose";
import { SEED_STORED_POLICY } from "../../fixtures/policies.ts";
import { memoryKms, tpm, unwrapWithTpm } from "./_harness.ts";

const issuer = "https://maa.example";
const interval = 10;
const grace = 5;
const tpmJwk = { ...tpm.publicKey.export({ format: "jwk" }), kid: "TpmEphemeralEncryptionKey" };
const token = (osMajor: number) => ({
  policy: "jwt",
  jwt: {
    keyIssuer: issuer,
    payload: {
      iss: issuer,
      "x-ms-ver": "1.0",
      "x-ms-azurevm-debuggersdisabled": true,
      "x-ms-azurevm-osversion-major": osMajor,
      "x-ms-runtime": { keys: [tpmJwk] },
    },
  },
});

const member = { policy: "member_cert", id: "member0" };

const kmsWithPolicies = () => {
  const kms = memoryKms();
  kms.govWrite(jwtValidationTable.map, issuer, { iss: issuer });
  kms.govWrite(keyReleaseTable.map, keyReleaseTable.key, SEED_STORED_POLICY);
  kms.govWrite(rotationTable.map, rotationTable.key, {
    version: 1,
    policy: { rotation_interval_seconds: interval, grace_period_seconds: grace },
  });
  return kms;
};

type Command =
  | { readonly t: "advance"; readonly s: number }
  | { readonly t: "refresh"; readonly ifDue: boolean }
  | { readonly t: "sign" }
  | { readonly t: "list" }
  | { readonly t: "pubkey"; readonly kid?: number }
  | { readonly t: "release"; readonly kid?: number; readonly allowed: boolean };

const kid = fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined });
const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ t: fc.constant("advance" as const), s: fc.integer({ min: 0, max: 12 }) }),
  fc.record({ t: fc.constant("refresh" as const), ifDue: fc.boolean() }),
  fc.record({ t: fc.constant("sign" as const) }),
  fc.record({ t: fc.constant("list" as const) }),
  fc.record({ t: fc.constant("pubkey" as const), kid }),
  fc.record({ t: fc.constant("release" as const), kid, allowed: fc.boolean() }),
);

/** What the test knows of a created key, independently of the core's records. */
interface Made {
  readonly index: number;
  readonly keyId: number;
  readonly publicKey: string;
  readonly releaseUntil: number;
  readonly notAfter: number;
  readonly seqno: number;
}

const statusOf = (result: E.Either<{ _tag: string }, unknown>) =>
  E.isRight(result) ? "ok" : result.left._tag;

Deno.test("property: the key endpoints' programs keep the KMS's promises over any sequence", () => {
  let releases = 0;
  fc.assert(
    fc.property(fc.array(command, { minLength: 10, maxLength: 60 }), (commands) => {
      const kms = kmsWithPolicies();
      const made: Made[] = [];
      let now = 1_000;
      let signedUpTo = 0;
      const releasable = () => made.filter((k) => now < k.releaseUntil);
      const holder = (id?: number) =>
        id === undefined ? made.at(-1) : made.filter((k) => k.keyId === id).at(-1);

      for (const c of commands) {
        if (c.t === "advance") now += c.s;
        if (c.t === "sign") {
          kms.sign();
          signedUpTo = made.at(-1)?.seqno ?? signedUpTo;
        }
        if (c.t === "refresh") {
          const due = !c.ifDue || !made.some((k) => now < k.notAfter);
          const out = kms.call(refresh, {
            now,
            query: c.ifDue ? "ifDue=true" : "",
            caller: member,
          });
          assert.ok(E.isRight(out.result));
          const body = out.result.right as Made & { created: boolean };
          assert.equal(body.created, due);
          if (due) {
            assert.equal(body.index, made.length);
            assert.equal(body.notAfter, now + interval);
            made.push({ ...body, seqno: out.seqno! });
          }
        }
        if (c.t === "list") {
          const out = kms.call(listpubkeys, { now });
          // Advertised: the active keys (the 2 newest), or the newest in grace if none is active.
          const active = releasable().filter((k) => now < k.notAfter);
          const listed = active.length > 0 ? active.slice(-2) : releasable().slice(-1);
          const signed = listed.filter((k) => k.seqno <= signedUpTo);
          const expected = listed.length === 0
            ? "KeyNotFound"
            : signed.length === 0
            ? "ReceiptNotReady"
            : "ok";
          assert.equal(statusOf(out.result), expected);
          if (E.isRight(out.result)) {
            const listed: { publicKey: string; receipt: string }[] = JSON.parse(
              new TextDecoder().decode((out.result.right as JsonText).bytes),
            );
            assert.deepEqual(listed.map((l) => l.publicKey), signed.map((k) => k.publicKey));
            for (const l of listed) {
              const digest = JSON.parse(l.receipt).claimsDigest;
              assert.equal(digest, toHex(sha256(utf8(l.publicKey))));
            }
          }
        }
        if (c.t === "pubkey" || c.t === "release") {
          const allowed = c.t === "pubkey" || c.allowed;
          const out = c.t === "pubkey"
            ? kms.call(pubkey, { now, query: c.kid === undefined ? "" : `kid=${c.kid}` })
            : kms.call(key, {
              now,
              query: c.kid === undefined ? "" : `kid=${c.kid}`,
              caller: token(allowed ? 22 : 20),
            });
          const k = holder(c.kid);
          const expected = !allowed
            ? "PolicyDenied"
            : k === undefined
            ? "KeyNotFound"
            : now >= k.releaseUntil
            ? "KeyExpired"
            : k.seqno > signedUpTo
            ? "ReceiptNotReady"
            : "ok";
          assert.equal(statusOf(out.result), expected);
          if (!allowed) {
            // A refused token never gets near a private key.
            assert.ok(out.effects.every((e) => e._tag === "Get" && e.map !== privateKeysTable.map));
          }
          if (c.t === "release" && E.isRight(out.result)) {
            const released = out.result.right as { kid: number; key: string };
            const cbor = unwrapWithTpm(
              Uint8Array.from(atob(released.key), (ch) => ch.charCodeAt(0)),
            );
            const priv = decodePrivateKeyCbor(cbor);
            assert.ok(E.isRight(priv));
            assert.equal(priv.right.kid, k!.keyId);
            const point = toHex(p384.getPublicKey(priv.right.d, false));
            assert.ok(k!.publicKey.includes(point), "the released key is the published one");
            releases++;
          }
        }
        // Storage invariants: one key per OHTTP id in the ring, and a private part for exactly
        // the ring's keys.
        const ring = (kms.read(keyRingTable.map, keyRingTable.key) ?? []) as Made[];
        assert.equal(new Set(ring.map((k) => k.keyId)).size, ring.length);
        assert.deepEqual(
          kms.keysOf(privateKeysTable.map).sort(),
          ring.map((k) => String(k.index)).sort(),
        );
      }
    }),
    { numRuns: 100 },
  );
  // The sequences reach the interesting case, not only refusals.
  assert.ok(releases > 0);
});

Deno.test("refresh asks for a key pair, then for exactly its writes and its claims digest", () => {
  const kms = kmsWithPolicies();
  const out = kms.call(refresh, { now: 5, caller: member });
  assert.deepEqual(out.effects.map((e) => e._tag), [
    "Get",
    "Get",
    "GenerateP384",
    "Put",
    "Put",
    "Put",
    "SetClaimsDigest",
  ]);
  const digest = out.effects.find((e) => e._tag === "SetClaimsDigest");
  assert.ok(E.isRight(out.result));
  const { publicKey } = out.result.right as { publicKey: string };
  assert.deepEqual(digest, { _tag: "SetClaimsDigest", digest: sha256(utf8(publicKey)) });
});

Deno.test("a release with a body over 1 KiB is refused before any read", () => {
  const kms = kmsWithPolicies();
  const out = kms.call(key, { now: 5, bodyBytes: 1025, caller: token(22) });
  assert.equal(statusOf(out.result), "InvalidInput");
  assert.deepEqual(out.effects, []);
});

Deno.test("a user may ask refresh?ifDue=true but not force a rotation; a member may", () => {
  const kms = kmsWithPolicies();
  const user = { policy: "user_cert", id: "user0" };
  const forced = kms.call(refresh, { now: 5, caller: user });
  assert.equal(statusOf(forced.result), "Forbidden");
  assert.deepEqual(forced.effects, [], "refused before anything is read");
  assert.equal(
    statusOf(kms.call(refresh, { now: 5, caller: user, query: "ifDue=true" }).result),
    "ok",
  );
  assert.equal(statusOf(kms.call(refresh, { now: 5, caller: member }).result), "ok");
});

Deno.test("a release is recorded: its text, the next count, and a claims digest bound to the text", async () => {
  const kms = kmsWithPolicies();
  kms.call(refresh, { now: 5, caller: member });
  kms.sign();
  const claims = token(22).jwt.payload;
  const released = kms.call(key, {
    now: 6,
    caller: token(22),
    headers: { "x-ms-request-id": "req-1" },
  });
  assert.ok(E.isRight(released.result));
  assert.equal((released.result.right as { release: number }).release, 0);
  const text = kms.read(releasesTable.map, "0") as string;
  const record = JSON.parse(text);
  assert.deepEqual(record, {
    release: 0,
    keyIndex: 0,
    kid: 0,
    policyVersion: 1,
    // An independent implementation of RFC 7638.
    wrappingKeyThumbprint: await calculateJwkThumbprint(
      { kty: "RSA", n: tpmJwk.n, e: tpmJwk.e },
      "sha256",
    ),
    issuer,
    claimsDigest: toHex(sha256(utf8(canonicalJson(claims)))),
    requestId: "req-1",
    time: 6,
  });
  assert.equal(kms.read(releaseCountTable.map, releaseCountTable.key), 1);
  assert.deepEqual(
    released.effects.find((e) => e._tag === "SetClaimsDigest"),
    { _tag: "SetClaimsDigest", digest: sha256(utf8(text)) },
  );
  // The next release is number 1; a refused one writes nothing.
  assert.equal(statusOf(kms.call(key, { now: 7, caller: token(20) }).result), "PolicyDenied");
  const second = kms.call(key, { now: 7, caller: token(22) });
  assert.ok(E.isRight(second.result));
  assert.equal((second.result.right as { release: number }).release, 1);
  assert.equal(kms.read(releaseCountTable.map, releaseCountTable.key), 2);
});

Deno.test("canonical JSON sorts keys at every level, keeps arrays in order", () => {
  assert.equal(
    canonicalJson({ b: [3, { z: 1, a: "x" }], a: null, c: true }),
    '{"a":null,"b":[3,{"a":"x","z":1}],"c":true}',
  );
});
