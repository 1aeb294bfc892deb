import * as E from "fp-ts/lib/Either.js";
import { hexToBytes } from "@noble/hashes/utils.js";
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
