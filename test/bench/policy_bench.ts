/** Key release policy evaluation against a realistic Azure CVM attestation token. */
import * as E from "fp-ts/lib/Either.js";
import { emptyStoredPolicy, evaluate } from "../../core/policy/keyRelease.ts";
import { applyChange, decodeKeyReleaseChange } from "../../core/policy/keyReleaseChange.ts";

const hex = (byte: string, n: number) => byte.repeat(n);
const pcrs = Array.from({ length: 24 }, (_, i) => i);

// About 40 claims, shaped like an MAA token for an SEV-SNP confidential VM.
const token = {
  exp: 1767225600,
  iat: 1767196800,
  iss: "https://sharedeus2.eus2.attest.azure.net",
  jti: hex("5a", 32),
  nbf: 1767196800,
  secureboot: true,
  "x-ms-attestation-type": "azurevm",
  "x-ms-azurevm-attestation-protocol-ver": "2.0",
  "x-ms-azurevm-attested-pcrs": pcrs,
  "x-ms-azurevm-bootdebug-enabled": false,
  "x-ms-azurevm-dbvalidated": true,
  "x-ms-azurevm-dbxvalidated": true,
  "x-ms-azurevm-debuggersdisabled": true,
  "x-ms-azurevm-default-securebootkeysvalidated": true,
  "x-ms-azurevm-elam-enabled": false,
  "x-ms-azurevm-flightsigning-enabled": false,
  "x-ms-azurevm-hvci-policy": 0,
  "x-ms-azurevm-hypervisordebug-enabled": false,
  "x-ms-azurevm-is-windows": false,
  "x-ms-azurevm-kerneldebug-enabled": false,
  "x-ms-azurevm-osbuild": "NotApplication",
  "x-ms-azurevm-osdistro": "Ubuntu",
  "x-ms-azurevm-ostype": "Linux",
  "x-ms-azurevm-osversion-major": 22,
  "x-ms-azurevm-osversion-minor": 4,
  "x-ms-azurevm-signingdisabled": true,
  "x-ms-azurevm-testsigning-enabled": false,
  "x-ms-azurevm-vmid": "8D2F6A34-7C1B-4E55-9A0B-2C3D4E5F6A7B",
  "x-ms-isolation-tee": {
    "x-ms-attestation-type": "sevsnpvm",
    "x-ms-compliance-status": "azure-compliant-cvm",
    "x-ms-runtime": { keys: [], "vm-configuration": { "secure-boot": true } },
    "x-ms-sevsnpvm-authorkeydigest": hex("00", 48),
    "x-ms-sevsnpvm-bootloader-svn": 3,
    "x-ms-sevsnpvm-familyId": hex("01", 16),
    "x-ms-sevsnpvm-guestsvn": 2,
    "x-ms-sevsnpvm-hostdata": hex("ab", 32),
    "x-ms-sevsnpvm-idkeydigest": hex("cd", 48),
    "x-ms-sevsnpvm-imageId": hex("02", 16),
    "x-ms-sevsnpvm-is-debuggable": false,
    "x-ms-sevsnpvm-launchmeasurement": hex("ef", 48),
    "x-ms-sevsnpvm-microcode-svn": 115,
    "x-ms-sevsnpvm-migration-allowed": false,
    "x-ms-sevsnpvm-reportdata": hex("12", 64),
    "x-ms-sevsnpvm-reportid": hex("34", 32),
    "x-ms-sevsnpvm-smt-allowed": true,
    "x-ms-sevsnpvm-snpfw-svn": 8,
    "x-ms-sevsnpvm-tee-svn": 0,
    "x-ms-sevsnpvm-vmpl": 0,
  },
  "x-ms-policy-hash": hex("9f", 32),
  "x-ms-runtime": {
    "client-payload": { nonce: "bm9uY2U=" },
    keys: [{
      e: "AQAB",
      key_ops: ["encrypt"],
      kid: "TpmEphemeralEncryptionKey",
      kty: "RSA",
      n: hex("q", 342),
    }],
  },
  "x-ms-ver": "1.0",
};

const stored = applyChange(
  emptyStoredPolicy,
  E.getOrElseW((e: { message: string }) => {
    throw new Error(e.message);
  })(decodeKeyReleaseChange({
    type: "add",
    claims: {
      "x-ms-ver": "1.0",
      "x-ms-attestation-type": "azurevm",
      secureboot: true,
      "x-ms-azurevm-debuggersdisabled": true,
      "x-ms-isolation-tee.x-ms-attestation-type": "sevsnpvm",
      "x-ms-isolation-tee.x-ms-compliance-status": "azure-compliant-cvm",
      "x-ms-isolation-tee.x-ms-sevsnpvm-hostdata": [hex("ab", 32), hex("ba", 32)],
      "x-ms-azurevm-attested-pcrs": [[0, 1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 14]],
    },
    gte: { "x-ms-isolation-tee.x-ms-sevsnpvm-snpfw-svn": 8 },
    gt: { "x-ms-azurevm-osversion-major": 21 },
  })),
);
if (E.isLeft(stored)) throw new Error(stored.left.message);
const policy = stored.right.policy;

const denied = {
  ...token,
  "x-ms-azurevm-osversion-major": 21,
  "x-ms-isolation-tee": {
    ...token["x-ms-isolation-tee"],
    "x-ms-sevsnpvm-hostdata": hex("00", 32),
  },
};

if (E.isLeft(evaluate(policy, token))) throw new Error("expected a release");
if (E.isRight(evaluate(policy, denied))) throw new Error("expected a denial");

Deno.bench("evaluate: 10 rules, ~40-claim token, release", () => {
  evaluate(policy, token);
});

Deno.bench("evaluate: 10 rules, ~40-claim token, denial with 2 failures", () => {
  evaluate(policy, denied);
});
