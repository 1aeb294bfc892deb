import assert from "node:assert/strict";
import * as E from "fp-ts/lib/Either.js";
import { decodePrivateKeyCbor } from "../../../core/keys/privateKeyCbor.ts";
import { jwtValidationTable, keyReleaseTable } from "../../../core/tables.ts";
import { loadTpmKey } from "@kms/sandbox";
import { SEED_STORED_POLICY } from "../../fixtures/policies.ts";
import { asMember, createKms } from "./_harness.ts";

const issuer = "https://maa.example";
const release = (tpmJwk: unknown) => ({
  policy: "jwt",
  jwt: {
    keyIssuer: issuer,
    header: { alg: "RS256", kid: "k" },
    payload: {
      iss: issuer,
      "x-ms-ver": "1.0",
      "x-ms-azurevm-debuggersdisabled": true,
      "x-ms-azurevm-osversion-major": 22,
      "x-ms-runtime": { keys: [tpmJwk] },
    },
  },
});

// Every size the core accepts; above 4096 bits Deno's own crypto cannot encrypt, so these go
// through the sandbox's RSA-OAEP as CCF's OpenSSL would. Keys are generated once, here.
Deno.test("QuickJS: keys are released to TPM keys of 2048 to 8192 bits, and each unwraps", async () => {
  const kms = await createKms();
  kms.govWrite(jwtValidationTable.map, issuer, { iss: issuer });
  kms.govWrite(keyReleaseTable.map, keyReleaseTable.key, SEED_STORED_POLICY);
  kms.call("POST", "/app/refresh", asMember);
  kms.signEverything();
  const workspace = await Deno.makeTempDir();
  try {
    for (const bits of [2048, 3072, 4096, 6144, 8192]) {
      const tpm = await loadTpmKey(`${workspace}/${bits}`, bits);
      const r = kms.call("POST", "/app/key", { query: "kid=0", caller: release(tpm.publicJwk) });
      assert.equal(r.status, 200, `${bits}: ${JSON.stringify(r.json)}`);
      assert.equal(atob(r.json.key).length, bits / 8);
      const key = decodePrivateKeyCbor(await tpm.unwrap(r.json.key));
      assert.ok(E.isRight(key), `${bits}`);
      assert.equal(key.right.kid, 0);
    }
  } finally {
    await Deno.remove(workspace, { recursive: true });
    kms.dispose();
  }
});
