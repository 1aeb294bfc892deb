/**
 * The private key release format: the plaintext that the KMS wraps for a gateway, the CBOR map
 * `{-4: d, -2: x, -3: y, -1: 2, 4: kid}` (as microsoft/attested-ohttp-server decodes it).
 *
 * The labels are the real OHTTP server's, not COSE's: label 4 carries the key id, and that server
 * rejects any other integer label, COSE's 1 (kty), 2 (kid) and 3 (alg) included. The kid is a
 * canonical unsigned integer; the seed KMS wrote it as a raw byte, which is malformed CBOR for
 * ids 24..255 (ids 32..55 even read as negative numbers and crash the server).
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { concat } from "../bytes.ts";
import { gather } from "../either.ts";
import { encodeBytes, encodeHead, encodeInt, MajorType, readHead, readScalar } from "../cbor.ts";
import { invalidInput, type KmsError } from "../errors.ts";

/** Length in bytes of a P-384 scalar or coordinate. */
const P384_FIELD_BYTES = 48;

/** The format's five labels, with the field names that error messages use. */
const LABELS = new Map<number, string>([
  [-4, "d"],
  [-2, "x"],
  [-3, "y"],
  [-1, "curve"],
  [4, "kid"],
]);
/** COSE's identifier of P-384, the only value the server accepts at label -1. */
const CURVE_P384 = 2;

/** The fields of a P-384 private key as released to a gateway, before validation. */
export interface P384PrivateKeyFields {
  /** OHTTP key id, 0..255. */
  readonly kid: number;
  /** Private scalar, 48 bytes big-endian. */
  readonly d: Uint8Array;
  /** Public point x coordinate, 48 bytes big-endian. */
  readonly x: Uint8Array;
  /** Public point y coordinate, 48 bytes big-endian. */
  readonly y: Uint8Array;
}

/**
 * The brand of a {@link P384PrivateKey}. It has no runtime value and is exported as a type only,
 * so that only this module's checking constructors can make a `P384PrivateKey` (short of a cast).
 */
declare const validPrivateKey: unique symbol;
export type { validPrivateKey };
/** A private key whose kid and lengths have been checked; build it with {@link p384PrivateKey}. */
export interface P384PrivateKey extends P384PrivateKeyFields {
  /** Present only on keys that passed the checks; see {@link validPrivateKey}. */
  readonly [validPrivateKey]: true;
}

const checkCoordinate = (
  name: string,
  value: Uint8Array,
): E.Either<KmsError, Uint8Array> =>
  value.length === P384_FIELD_BYTES ? E.right(value) : E.left(invalidInput(
    `private key ${name} must be ${P384_FIELD_BYTES} bytes, got ${value.length}`,
  ));

/** Checks that kid is an integer 0..255 and d, x, y are 48 bytes each. */
export const p384PrivateKey = (
  fields: P384PrivateKeyFields,
): E.Either<KmsError, P384PrivateKey> =>
  Number.isInteger(fields.kid) && fields.kid >= 0 && fields.kid <= 255
    ? pipe(
      checkCoordinate("d", fields.d),
      E.chain(() => checkCoordinate("x", fields.x)),
      E.chain(() => checkCoordinate("y", fields.y)),
      E.map(() => fields as P384PrivateKey),
    )
    : E.left(invalidInput(
      `private key kid must be an integer 0..255, got ${fields.kid}`,
    ));

/** The CBOR bytes: 158 bytes for kid < 24, 159 otherwise (the kid then takes `18 xx`). */
export const encodePrivateKeyCbor = (key: P384PrivateKey): Uint8Array =>
  concat(
    encodeHead(MajorType.MAP, LABELS.size),
    encodeInt(-4),
    encodeBytes(key.d),
    encodeInt(-2),
    encodeBytes(key.x),
    encodeInt(-3),
    encodeBytes(key.y),
    encodeInt(-1),
    encodeInt(CURVE_P384),
    encodeInt(4),
    encodeInt(key.kid),
  );

const fail = (message: string): E.Either<KmsError, never> =>
  E.left(invalidInput(`private key CBOR: ${message}`));

/** The map's entries by label; values are integers or byte strings. */
type Entries = ReadonlyMap<number, number | Uint8Array>;

const describe = (label: number): string => `label ${label} (${LABELS.get(label)})`;

/** Reads the map's entries; rejects labels outside the five, duplicates and trailing bytes. */
const readEntries = (
  bytes: Uint8Array,
): E.Either<KmsError, Entries> => {
  const head = readHead(bytes, 0);
  if (E.isLeft(head)) return head;
  if (head.right.major !== MajorType.MAP) {
    return fail(`must be a map, got major type ${head.right.major}`);
  }
  const entries = new Map<number, number | Uint8Array>();
  let at = head.right.end;
  for (let i = 0; i < head.right.argument; i++) {
    const label = readScalar(bytes, at);
    if (E.isLeft(label)) return label;
    const l = label.right.value;
    if (typeof l !== "number" || !LABELS.has(l)) {
      const shown = typeof l === "number" ? l : "(byte string)";
      return fail(`label ${shown} is not allowed; use only -4, -2, -3, -1 and 4`);
    }
    if (entries.has(l)) return fail(`${describe(l)} appears twice`);
    const value = readScalar(bytes, label.right.end);
    if (E.isLeft(value)) return value;
    entries.set(l, value.right.value);
    at = value.right.end;
  }
  return at === bytes.length
    ? E.right(entries)
    : fail(`${bytes.length - at} trailing bytes after the map`);
};

const byteField = (
  entries: Entries,
  label: number,
): E.Either<KmsError, Uint8Array> => {
  const v = entries.get(label);
  return v instanceof Uint8Array ? E.right(v) : fail(
    `${describe(label)} ${v === undefined ? "is missing" : "must be a byte string"}`,
  );
};

const uintField = (
  entries: Entries,
  label: number,
): E.Either<KmsError, number> => {
  const v = entries.get(label);
  return typeof v === "number" && v >= 0 ? E.right(v) : fail(
    `${describe(label)} ${v === undefined ? "is missing" : "must be an unsigned integer"}`,
  );
};

const fieldsOf = (
  entries: Entries,
): E.Either<KmsError, P384PrivateKeyFields> =>
  gather({
    d: byteField(entries, -4),
    x: byteField(entries, -2),
    y: byteField(entries, -3),
    kid: uintField(entries, 4),
  });

/**
 * Strict decoding: a definite-length map of exactly the labels -4, -2, -3, -1 and 4 (in any
 * order), each once, -1 equal to 2, shortest integer encodings and no trailing bytes.
 */
export const decodePrivateKeyCbor = (
  bytes: Uint8Array,
): E.Either<KmsError, P384PrivateKey> =>
  pipe(
    readEntries(bytes),
    E.chainFirst((entries) =>
      pipe(
        uintField(entries, -1),
        E.filterOrElse(
          (curve) => curve === CURVE_P384,
          (curve) =>
            invalidInput(
              `private key CBOR: label -1 (curve) must be ${CURVE_P384} (P-384), got ${curve}`,
            ),
        ),
      )
    ),
    E.chain(fieldsOf),
    E.chain(p384PrivateKey),
  );
