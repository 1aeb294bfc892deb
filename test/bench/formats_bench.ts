import * as E from "fp-ts/lib/Either.js";
import { hexToBytes } from "@noble/hashes/utils.js";
import * as t from "io-ts";
import { KeyRecord, KeyRing } from "../../core/keys/record.ts";
import {
  decodePrivateKeyCbor,
  encodePrivateKeyCbor,
  p384PrivateKey,
} from "../../core/keys/privateKeyCbor.ts";
import {
  decodeKeyConfig,
  encodeKeyConfig,
  keyConfigFromHex,
  keyConfigToHex,
  p384KeyConfig,
} from "../../core/ohttp/keyConfig.ts";
import { D, X, Y } from "../fixtures/vectors.ts";

const orThrow = <A>(r: E.Either<unknown, A>): A => {
  if (E.isLeft(r)) throw new Error("benchmark input is invalid");
  return r.right;
};

const config = orThrow(p384KeyConfig(1, hexToBytes("04" + X + Y)));
const configBytes = encodeKeyConfig(config);
const configHex = keyConfigToHex(config);
const key = orThrow(p384PrivateKey({
  kid: 200,
  d: hexToBytes(D),
  x: hexToBytes(X),
  y: hexToBytes(Y),
}));
const cbor = encodePrivateKeyCbor(key);

Deno.bench("KeyConfig P-384 encode", { group: "keyConfig" }, () => {
  encodeKeyConfig(config);
});
Deno.bench("KeyConfig P-384 decode", { group: "keyConfig" }, () => {
  orThrow(decodeKeyConfig(configBytes));
});
Deno.bench("KeyConfig P-384 to hex", { group: "keyConfig" }, () => {
  keyConfigToHex(config);
});
Deno.bench("KeyConfig P-384 from hex", { group: "keyConfig" }, () => {
  orThrow(keyConfigFromHex(configHex));
});
Deno.bench("private key CBOR encode", { group: "cbor" }, () => {
  encodePrivateKeyCbor(key);
});
Deno.bench("private key CBOR decode", { group: "cbor" }, () => {
  orThrow(decodePrivateKeyCbor(cbor));
});

// A full key ring as the KV holds it: the derived guard of PublishedKey against the same schema in
// io-ts combinators, which every cold read of the ring would pay for 256 records.
const ring = Array.from({ length: 256 }, (_, i) => ({
  index: 1000 + i,
  keyId: i,
  createdAt: 1_700_000_000,
  notAfter: 1_700_086_400,
  releaseUntil: 1_700_172_800,
  publicKey: configHex.slice(0, 2) + "ab".repeat(105),
}));
const Hex212 = t.refinement(t.string, (s) => /^[0-9a-f]{212}$/.test(s), "KeyConfig hex");
const combined = t.array(t.intersection([KeyRecord, t.type({ publicKey: Hex212 })]));
Deno.bench("key ring of 256: derived guard (KeyRing)", { group: "ring", baseline: true }, () => {
  orThrow(KeyRing.decode(ring));
});
Deno.bench("key ring of 256: io-ts combinators", { group: "ring" }, () => {
  orThrow(combined.decode(ring));
});
