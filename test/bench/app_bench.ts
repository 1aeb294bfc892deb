/**
 * The KMS bundle in QuickJS (interpreter reused, as app.json asks): the cost of `listpubkeys` and
 * `key` (policy evaluation, CBOR, RSA-OAEP wrap) next to `heartbeat`, with 10 keys and with a
 * full key ring of 256 (a second KMS).
 */
import { generateKeyPairSync } from "node:crypto";
import { jwtValidationTable, keyReleaseTable } from "../../core/tables.ts";
import { asMember, createKms } from "../ccf/app/_harness.ts";

const issuer = "https://maa.example";
const tpm = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ format: "jwk" });
const caller = {
  policy: "jwt",
  jwt: {
    keyIssuer: issuer,
    header: { alg: "RS256" },
    payload: {
      iss: issuer,
      "x-ms-ver": "1.0",
      "x-ms-azurevm-osversion-major": 22,
      "x-ms-runtime": { keys: [{ ...tpm, kid: "TpmEphemeralEncryptionKey" }] },
    },
  },
};
const kmsWithKeys = async (count: number) => {
  const kms = await createKms();
  kms.govWrite(jwtValidationTable.map, issuer, { iss: issuer });
  kms.govWrite(keyReleaseTable.map, keyReleaseTable.key, {
    version: 1,
    policy: {
      claims: { "x-ms-ver": ["1.0"] },
      gte: { "x-ms-azurevm-osversion-major": 22 },
      gt: {},
    },
  });
  for (let i = 0; i < count; i++) kms.call("POST", "/app/refresh", asMember);
  kms.signEverything();
  return kms;
};
const kms = await kmsWithKeys(10);
const full = await kmsWithKeys(256);

Deno.bench("heartbeat", { group: "app", baseline: true }, () => {
  kms.call("GET", "/app/heartbeat");
});
Deno.bench("listpubkeys (10 keys)", { group: "app" }, () => {
  kms.call("GET", "/listpubkeys");
});
Deno.bench("key (policy, CBOR, RSA-OAEP wrap)", { group: "app" }, () => {
  kms.call("POST", "/app/key", { query: "kid=3", caller });
});
Deno.bench("listpubkeys (256 keys)", { group: "app" }, () => {
  full.call("GET", "/listpubkeys");
});
Deno.bench("key (256 keys)", { group: "app" }, () => {
  full.call("POST", "/app/key", { query: "kid=3", caller });
});
