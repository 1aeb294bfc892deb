/**
 * The attestation service rotates its signing key mid-run, as Microsoft Azure Attestation does:
 * with the issuer trusted through `kms trust-issuer --auto-refresh`, the sandbox fetches the new
 * key over HTTPS (checked against the issuer's CA, proposed with it) within the refresh interval,
 * releases succeed again with tokens of the new key, and a token of the rotated-out key is refused,
 * all without any proposal after the first.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type AttestationIssuer, startAttestationIssuer } from "@kms/sandbox";
import { type Kms, poll, refresh, startKms } from "./_harness.ts";

const PROPOSALS = "/gov/members/proposals?api-version=2024-07-01";
const JWK_VIEW = "/gov/service/jwk?api-version=2024-07-01";

/** A token of the HTTPS issuer, fetched trusting its CA only. */
const tokenOf = async (kms: Kms, idp: AttestationIssuer, client: Deno.HttpClient) => {
  const response = await fetch(`${idp.url}/token`, { method: "POST", client });
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
  kms.secret(body.access_token);
  return body.access_token as string;
};

const release = (kms: Kms, token: string, kid: number) =>
  kms.call("POST", `/app/key?kid=${kid}`, { token });

Deno.test("e2e: the issuer rotates its key; releases succeed after the refresh, with no proposal", async () => {
  const kms = await startKms({ releasePolicy: true, jwtKeyRefreshIntervalS: 1 });
  // Its own workspace: the harness's demo issuer keeps its keys in the KMS's.
  const idp = await startAttestationIssuer({
    workspace: join(kms.workspace, "maa"),
    port: 0,
    tls: true,
    log: (line) => kms.log(`[maa] ${line}`),
  });
  const client = Deno.createHttpClient({ caCerts: [idp.ca!.certPem] });
  try {
    await kms.cli([
      "trust-issuer",
      idp.issuer,
      "--auto-refresh",
      "--ca-cert-bundle",
      idp.ca!.path,
      "--vote-with",
      "0,1",
    ]);
    const proposals = (await kms.call("GET", PROPOSALS)).body.value.length;
    const { keyId } = await refresh(kms);

    // No JWKS was proposed: the keys come from the issuer when the proposal is applied.
    const before = await tokenOf(kms, idp, client);
    const first = await poll(
      "a release with the issuer's first key",
      () => release(kms, before, keyId),
      (r) => r.status !== 202 && r.status !== 401,
    );
    assert.equal(first.status, 200, first.text);

    const oldKid = idp.kid;
    const newKid = await idp.rotateKey();
    assert.notEqual(newKid, oldKid);
    const after = await tokenOf(kms, idp, client);
    const second = await poll(
      "a release with the rotated key, once the sandbox refreshed the issuer's keys",
      () => release(kms, after, keyId),
      (r) => r.status !== 401 && r.status !== 202,
    );
    assert.equal(second.status, 200, second.text);

    const refused = await release(kms, before, keyId);
    assert.equal(refused.status, 401, refused.text);
    assert.match(refused.text, new RegExp(`JWT signing key not found for kid ${oldKid}`));

    const view = await kms.call("GET", JWK_VIEW);
    assert.equal(view.status, 200, view.text);
    assert.deepEqual(
      Object.entries(view.body.keys)
        .filter(([, keys]) => (keys as { issuer: string }[]).some((k) => k.issuer === idp.issuer))
        .map(([kid]) => kid),
      [newKid],
    );
    assert.equal((await kms.call("GET", PROPOSALS)).body.value.length, proposals, "no proposal");
    const log = await Deno.readTextFile(join(kms.workspace, "sandbox_0", "out"));
    assert.match(
      log,
      new RegExp(
        `JWT key auto-refresh: stored 1 signing key\\(s\\) of issuer '${idp.issuer}' ` +
          `\\(kid ${newKid}\\)`,
      ),
    );
    await kms.assertLogsFreeOfSecrets();
  } finally {
    client.close();
    await idp.stop();
    await kms.close();
  }
});
