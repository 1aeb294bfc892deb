/**
 * One OHTTP round trip over DHKEM(P-384, HKDF-SHA384) + HKDF-SHA384 + AES-256-GCM, next to the bare
 * HPKE seal and open it is built on. The goal is a round trip within 1.3 × the bare HPKE pair: the
 * ECDH operations dominate both, and the OHTTP framing and response keys must stay small beside them.
 */
import * as E from "fp-ts/lib/Either.js";
import { hexToBytes } from "@noble/hashes/utils.js";
import { encodeRequest, encodeResponse } from "../../client/ohttp/bhttp.ts";
import { decapsulateRequest, encapsulateRequest } from "../../client/ohttp/encapsulation.ts";
import { hpkeSuite, importPrivateKey } from "../../client/ohttp/suite.ts";
import { keyConfigFromHex } from "../../core/ohttp/keyConfig.ts";
import { D, P384_KID1 as CONFIG } from "../fixtures/vectors.ts";

const orThrow = <A>(r: E.Either<unknown, A>): A => {
  if (E.isLeft(r)) throw new Error("benchmark input is invalid");
  return r.right;
};

const config = orThrow(keyConfigFromHex(CONFIG));
const keyPair = orThrow(await importPrivateKey(config, hexToBytes(D)));
const request = orThrow(encodeRequest({
  method: "POST",
  scheme: "https",
  authority: "gateway.example",
  path: "/score",
  headers: [["content-type", "application/json"]],
  content: new TextEncoder().encode(JSON.stringify({ prompt: "x".repeat(256) })),
}));
const response = orThrow(encodeResponse({
  status: 200,
  headers: [],
  content: new TextEncoder().encode("y".repeat(256)),
}));
const suite = orThrow(hpkeSuite(config.kem, 2, 2)).cipherSuite;
const info = new TextEncoder().encode("message/bhttp request\0\x01\0\x11\0\x02\0\x02");

Deno.bench("bare HPKE seal + open (P-384)", { group: "ohttp-p384", baseline: true }, async () => {
  const sender = await suite.createSenderContext({ recipientPublicKey: keyPair.publicKey, info });
  const ct = await sender.seal(request);
  const recipient = await suite.createRecipientContext({
    recipientKey: keyPair,
    enc: sender.enc,
    info,
  });
  await recipient.open(ct);
});

Deno.bench("OHTTP round trip, chunked response (P-384)", { group: "ohttp-p384" }, async () => {
  const sent = orThrow(await encapsulateRequest(config, request));
  const got = orThrow(await decapsulateRequest(keyPair, config, sent.body));
  const body = orThrow(await got.context.sealChunkedResponse([response]));
  orThrow(await sent.context.openChunkedResponse(body));
});
