/**
 * P-384 in Deno: one ECDH on each primitive available (WebCrypto, node:crypto, @noble/curves in
 * pure JavaScript), next to the gateway's crypto for one OHTTP request (decapsulation: parsing,
 * the ECDH, HPKE's key schedule and the AEAD open; client/ohttp/hpkeRecipient.ts),
 * the same with the response sealed (export, response keys, AES-GCM), and the same HPKE open with
 * @hpke's stock WebCrypto suite. Goal: the gateway's request within 1.3 × the fastest ECDH.
 */
import * as E from "fp-ts/lib/Either.js";
import { createECDH } from "node:crypto";
import { p384 } from "@noble/curves/nist.js";
import { hexToBytes } from "@noble/hashes/utils.js";
import { Aes256Gcm, CipherSuite, DhkemP384HkdfSha384, HkdfSha384 } from "@hpke/core";
import { decapsulateRequest, encapsulateRequest } from "../../client/ohttp/encapsulation.ts";
import { importPrivateKey } from "../../client/ohttp/suite.ts";
import { keyConfigFromHex } from "../../core/ohttp/keyConfig.ts";
import { D, P384_KID1 as CONFIG } from "../fixtures/vectors.ts";

const orThrow = <A>(r: E.Either<unknown, A>): A => {
  if (E.isLeft(r)) throw new Error("benchmark input is invalid");
  return r.right;
};

// Keys as the gateway holds them: imported from their raw forms, not generated in place.
const web = new DhkemP384HkdfSha384();
const recipient = await web.deriveKeyPair(new Uint8Array(48).fill(1));
const peerRaw = p384.getPublicKey(p384.utils.randomSecretKey(), false);
const peer = await web.deserializePublicKey(peerRaw);
const d = new Uint8Array(await web.serializePrivateKey(recipient.privateKey));
const nodeEcdh = createECDH("secp384r1");
nodeEcdh.setPrivateKey(d);

Deno.bench("ECDH P-384: WebCrypto", { group: "p384", baseline: true }, async () => {
  await crypto.subtle.deriveBits({ name: "ECDH", public: peer }, recipient.privateKey, 384);
});
Deno.bench("ECDH P-384: node:crypto", { group: "p384" }, () => {
  nodeEcdh.computeSecret(peerRaw);
});
Deno.bench("ECDH P-384: @noble/curves", { group: "p384" }, () => {
  p384.getSharedSecret(d, peerRaw);
});

const config = orThrow(keyConfigFromHex(CONFIG));
const keyPair = orThrow(await importPrivateKey(config, hexToBytes(D)));
const request = new TextEncoder().encode("x".repeat(256));
const sealed = orThrow(await encapsulateRequest(config, request)).body;
Deno.bench(
  "gateway: decapsulate one OHTTP request",
  { group: "p384" },
  async () => {
    orThrow(await decapsulateRequest(keyPair, config, sealed));
  },
);

Deno.bench(
  "gateway: decapsulate one OHTTP request and seal a 256-byte response",
  { group: "p384" },
  async () => {
    const opened = orThrow(await decapsulateRequest(keyPair, config, sealed));
    orThrow(await opened.context.sealResponse(request));
  },
);

// The same HPKE open on @hpke's stock WebCrypto suite, as the gateway ran before.
const webSuite = new CipherSuite({
  kem: new DhkemP384HkdfSha384(),
  kdf: new HkdfSha384(),
  aead: new Aes256Gcm(),
});
const webKeys = await webSuite.kem.deriveKeyPair(new Uint8Array(48).fill(7));
const info = new TextEncoder().encode("bench");
const webSender = await webSuite.createSenderContext({
  recipientPublicKey: webKeys.publicKey,
  info,
});
const webCt = await webSender.seal(request);
Deno.bench("gateway: HPKE open on @hpke's stock suite", { group: "p384" }, async () => {
  const recipient = await webSuite.createRecipientContext({
    recipientKey: webKeys,
    enc: webSender.enc,
    info,
  });
  await recipient.open(webCt);
});
