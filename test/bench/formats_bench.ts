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

// Vectors of reference/ohttp-peers.md §7.
const D = "7958b7da76b6234b18b96c0882bfbe69805a5b0ffd2f893504572cd22b9d75b9" +
  "b807c20af142268811e6592644b04661";
const X = "fd3fc0b8ef83fdbb2b015a102e452d1d0cb030830134e43ec883dab46de6352b" +
  "376f7542938c6fbd744bca21bbb9a520";
const Y = "c4b4a8c46ced76c567614fc34104e30ccf447b8a22904e70d79e3f5a3157aaf7" +
  "0f3ff0805cb02dcf13abca8b8e7931f7";

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
