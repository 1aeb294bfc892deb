import assert from "node:assert/strict";
import { join } from "node:path";
import { base64, base64urlnopad } from "@scure/base";
import * as E from "fp-ts/lib/Either.js";
import { hexToBytes } from "@noble/hashes/utils.js";
import { decodePrivateKeyCbor } from "../../../../core/keys/privateKeyCbor.ts";
import {
  decodePem,
  encodePem,
  loadRsaKeyPair,
  loadTpmKey,
  tpmKeyFiles,
  type TpmPublicJwk,
} from "../../../../ccf/sandbox/standins/tpmKey.ts";
import { KID1_CBOR as CBOR_KEY_KID_1 } from "../../../fixtures/vectors.ts";

const withWorkspace = async (body: (workspace: string) => Promise<void>) => {
  const workspace = await Deno.makeTempDir({ prefix: "tpm-key-test-" });
  try {
    await body(workspace);
  } finally {
    await Deno.remove(workspace, { recursive: true });
  }
};

/** What the KMS does: RSA-OAEP-SHA256 to the token's JWK, then base64 STANDARD. */
const wrapTo = async (jwk: TpmPublicJwk, plaintext: Uint8Array<ArrayBuffer>) => {
  const key = await crypto.subtle.importKey(
    "jwk",
    { kty: jwk.kty, n: jwk.n, e: jwk.e },
    { name: "RSA-OAEP", hash: "SHA-256" },
    false,
    ["encrypt"],
  );
  return base64.encode(
    new Uint8Array(await crypto.subtle.encrypt({ name: "RSA-OAEP" }, key, plaintext)),
  );
};

const modeOf = async (path: string) => ((await Deno.stat(path)).mode ?? 0) & 0o777;

const ignoreOnWindows = Deno.build.os === "windows";

Deno.test("the TPM key is an RSA-2048 JWK shaped like MAA's", async () => {
  await withWorkspace(async (workspace) => {
    const { publicJwk } = await loadTpmKey(workspace);
    assert.equal(publicJwk.kty, "RSA");
    assert.equal(publicJwk.kid, "TpmEphemeralEncryptionKey");
    assert.deepEqual(publicJwk.key_ops, ["encrypt"]);
    assert.equal(publicJwk.e, "AQAB");
    assert.equal(base64urlnopad.decode(publicJwk.n).length, 256);
  });
});

Deno.test("a 158-byte CBOR key wrapped to the token's JWK unwraps to the same bytes", async () => {
  await withWorkspace(async (workspace) => {
    const tpm = await loadTpmKey(workspace);
    const plaintext = Uint8Array.from(hexToBytes(CBOR_KEY_KID_1));
    assert.equal(plaintext.length, 158);
    const wrapped = await wrapTo(tpm.publicJwk, plaintext);
    assert.equal(base64.decode(wrapped).length, 256);
    const unwrapped = await tpm.unwrap(wrapped);
    assert.deepEqual(unwrapped, plaintext);
    const key = decodePrivateKeyCbor(unwrapped);
    assert.ok(E.isRight(key));
    assert.equal(key.right.kid, 1);
  });
});

Deno.test("unwrap rejects a tampered ciphertext, another key's ciphertext and bad base64", async () => {
  await withWorkspace(async (workspace) => {
    const tpm = await loadTpmKey(workspace);
    const plaintext = crypto.getRandomValues(new Uint8Array(158));
    const wrapped = base64.decode(await wrapTo(tpm.publicJwk, plaintext));
    const tampered = Uint8Array.from(wrapped);
    tampered[100] ^= 1;
    await assert.rejects(tpm.unwrap(base64.encode(tampered)), /does not decrypt/);
    await assert.rejects(tpm.unwrap(base64.encode(wrapped.subarray(1))), /does not decrypt/);

    await withWorkspace(async (other) => {
      const stranger = await loadTpmKey(other);
      await assert.rejects(
        tpm.unwrap(await wrapTo(stranger.publicJwk, plaintext)),
        /does not decrypt/,
      );
    });

    const standard = base64.encode(wrapped);
    const urlSafe = standard.replace(/\+/g, "-").replace(/\//g, "_");
    if (urlSafe !== standard) await assert.rejects(tpm.unwrap(urlSafe), /not base64/);
    await assert.rejects(tpm.unwrap("not base64!"), /not base64/);
    await assert.rejects(tpm.unwrap(standard.replace(/=+$/, "") + "A"), /not base64/);
  });
});

Deno.test("the error of a failed unwrap does not quote the ciphertext", async () => {
  await withWorkspace(async (workspace) => {
    const tpm = await loadTpmKey(workspace);
    const garbage = base64.encode(crypto.getRandomValues(new Uint8Array(256)));
    await assert.rejects(tpm.unwrap(garbage), (error: Error) => {
      assert.ok(!error.message.includes(garbage.slice(0, 16)));
      return true;
    });
  });
});

Deno.test("the TPM key survives a reload of the same workspace", async () => {
  await withWorkspace(async (workspace) => {
    const first = await loadTpmKey(workspace);
    const second = await loadTpmKey(workspace);
    assert.deepEqual(second.publicJwk, first.publicJwk);
    const plaintext = crypto.getRandomValues(new Uint8Array(158));
    assert.deepEqual(await second.unwrap(await wrapTo(first.publicJwk, plaintext)), plaintext);
  });
});

Deno.test("processes creating the key at once agree on one key", async () => {
  await withWorkspace(async (workspace) => {
    const keys = await Promise.all(Array.from({ length: 4 }, () => loadTpmKey(workspace)));
    for (const key of keys) assert.deepEqual(key.publicJwk, keys[0].publicJwk);
    const leftovers = [...Deno.readDirSync(join(workspace, "idp"))]
      .filter((entry) => entry.name.endsWith(".tmp"));
    assert.deepEqual(leftovers, []);
  });
});

Deno.test({
  name: "key files are PKCS#8 and SPKI PEM with mode 0600 in a 0700 directory",
  ignore: ignoreOnWindows,
  fn: async () => {
    await withWorkspace(async (workspace) => {
      const tpm = await loadTpmKey(workspace);
      const files = tpmKeyFiles(workspace);
      assert.equal(await modeOf(files.privateKeyPath), 0o600);
      assert.equal(await modeOf(files.publicKeyPath), 0o600);
      assert.equal(await modeOf(join(workspace, "idp")), 0o700);

      const spki = decodePem("PUBLIC KEY", await Deno.readTextFile(files.publicKeyPath));
      const fromSpki = await crypto.subtle.importKey(
        "spki",
        spki,
        { name: "RSA-OAEP", hash: "SHA-256" },
        true,
        ["encrypt"],
      );
      const jwk = await crypto.subtle.exportKey("jwk", fromSpki);
      assert.equal(jwk.n, tpm.publicJwk.n);
      const pkcs8 = decodePem("PRIVATE KEY", await Deno.readTextFile(files.privateKeyPath));
      await crypto.subtle.importKey(
        "pkcs8",
        pkcs8,
        { name: "RSA-OAEP", hash: "SHA-256" },
        false,
        ["decrypt"],
      );
    });
  },
});

Deno.test({
  name: "loading tightens a key file's mode and restores a lost public key file",
  ignore: ignoreOnWindows,
  fn: async () => {
    await withWorkspace(async (workspace) => {
      const files = tpmKeyFiles(workspace);
      const first = await loadTpmKey(workspace);
      await Deno.chmod(files.privateKeyPath, 0o644);
      await Deno.remove(files.publicKeyPath);
      const second = await loadTpmKey(workspace);
      assert.deepEqual(second.publicJwk, first.publicJwk);
      assert.equal(await modeOf(files.privateKeyPath), 0o600);
      assert.equal(await modeOf(files.publicKeyPath), 0o600);
    });
  },
});

Deno.test("a key file that is not an RSA private key is reported, not replaced", async () => {
  await withWorkspace(async (workspace) => {
    const files = { privateKeyPath: join(workspace, "k.pem"), publicKeyPath: join(workspace, "p") };
    await Deno.writeTextFile(files.privateKeyPath, "hello");
    await assert.rejects(loadRsaKeyPair(files, 2048), /no PEM block labelled PRIVATE KEY/);
    const notAKey = encodePem("PRIVATE KEY", new Uint8Array(9));
    await Deno.writeTextFile(files.privateKeyPath, notAKey);
    await assert.rejects(loadRsaKeyPair(files, 2048), /does not hold an RSA private key/);
    assert.equal(await Deno.readTextFile(files.privateKeyPath), notAKey);
  });
});

Deno.test("PEM encoding round-trips and wraps lines at 64 characters", () => {
  const der = crypto.getRandomValues(new Uint8Array(300));
  const pem = encodePem("PUBLIC KEY", der);
  assert.ok(pem.startsWith("-----BEGIN PUBLIC KEY-----\n"));
  assert.ok(pem.endsWith("-----END PUBLIC KEY-----\n"));
  assert.ok(pem.split("\n").every((line) => line.length <= 64 || line.startsWith("-----")));
  assert.deepEqual(decodePem("PUBLIC KEY", pem), der);
  assert.throws(() => decodePem("PRIVATE KEY", pem), /no PEM block labelled PRIVATE KEY/);
});
