// @ts-check
/**
 * The first part of the default constitution: the `Action` class and the argument checks and KV
 * helpers the actions use. `Action`, `actions` and the `check*` helpers keep the names CCF's
 * default constitution gives them, because custom actions appended to a constitution (the KMS's
 * `kms_actions.js`, CCF's samples) call them by those names.
 */
import { ccf } from "./ccf.d.ts";

/**
 * An action's arguments: JSON from the proposal, which `validate` checks before `apply` runs.
 * @typedef {any} Args
 */

/**
 * A member's record in `public:ccf.gov.members.info`.
 * @typedef {{ status: string, member_data?: unknown, recovery_role?: string }} MemberInfo
 */

export const GOV_MEMBER_INFO = "public:ccf.gov.members.info";
export const GOV_MEMBER_ENCRYPTION_KEYS = "public:ccf.gov.members.encryption_public_keys";
export const GOV_PROPOSALS_INFO = "public:ccf.gov.proposals_info";
export const GOV_SERVICE_INFO = "public:ccf.gov.service.info";
export const GOV_SERVICE_CONFIG = "public:ccf.gov.service.config";

// ---- ccf-sandbox default constitution: actions ----
export class Action {
  /**
   * @param {(args: Args) => void} validate
   * @param {(args: Args, proposalId: string) => void} apply
   */
  constructor(validate, apply) {
    this.validate = validate;
    this.apply = apply;
  }
}

/** @param {unknown} value */
function typeNameOf(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

/**
 * CCF's check: "array" and "integer" are exact, any other type is `typeof`'s, so "object" also
 * accepts arrays and (when required) `null`, as CCF's default constitution does.
 * @param {unknown} value
 * @param {string} type "string" | "boolean" | "number" | "integer" | "object" | "array", with a
 * "?" suffix when optional
 * @param {string} field
 */
export function checkType(value, type, field) {
  const optional = type.endsWith("?");
  const base = optional ? type.slice(0, -1) : type;
  if (optional && (value === undefined || value === null)) return;
  let ok;
  if (base === "array") ok = Array.isArray(value);
  else if (base === "integer") ok = Number.isInteger(value);
  // deno-lint-ignore valid-typeof -- the type name comes from the caller, as in CCF's check
  else ok = typeof value === base;
  if (!ok) throw new Error(field + " must be of type " + type + " but is " + typeNameOf(value));
}

/**
 * @param {unknown} value
 * @param {readonly unknown[]} members
 * @param {string} field
 */
export function checkEnum(value, members, field) {
  if (!members.includes(value)) {
    throw new Error(
      field + " must be one of " + members.join(", ") + " but is " + JSON.stringify(value),
    );
  }
}

/**
 * @param {number} value
 * @param {number | null | undefined} low
 * @param {number | null | undefined} high
 * @param {string} field
 */
export function checkBounds(value, low, high, field) {
  if (low !== null && low !== undefined && value < low) {
    throw new Error(field + " must be at least " + low);
  }
  if (high !== null && high !== undefined && value > high) {
    throw new Error(field + " must be at most " + high);
  }
}

/**
 * @param {{ length: number }} value
 * @param {number | null | undefined} min
 * @param {number | null | undefined} max
 * @param {string} field
 */
export function checkLength(value, min, max, field) {
  if (min !== null && min !== undefined && value.length < min) {
    throw new Error(field + " must hold at least " + min + " items");
  }
  if (max !== null && max !== undefined && value.length > max) {
    throw new Error(field + " must hold at most " + max + " items");
  }
}

/** @param {unknown} args */
export function checkNone(args) {
  if (args !== null && args !== undefined) {
    throw new Error("this action takes no argument, but got " + JSON.stringify(args));
  }
}

/**
 * @param {unknown} value
 * @param {string} field
 */
export function checkEntityId(value, field) {
  checkType(value, "string", field);
  if (!/^[a-fA-F0-9]{64}$/.test(/** @type {string} */ (value))) {
    throw new Error(
      field + " must be 64 hexadecimal characters (a SHA-256 id), not " + JSON.stringify(value),
    );
  }
}

/**
 * @param {unknown} value
 * @param {string} field
 */
export function checkX509CertBundle(value, field) {
  checkType(value, "string", field);
  if (!ccf.crypto.isValidX509CertBundle(/** @type {string} */ (value))) {
    throw new Error(field + " must be one or more valid X509 certificates in PEM format");
  }
}

/** @param {string} base64Der */
function derCertToPem(base64Der) {
  const lines = [];
  for (let i = 0; i < base64Der.length; i += 64) lines.push(base64Der.slice(i, i + 64));
  return "-----BEGIN CERTIFICATE-----\n" + lines.join("\n") + "\n-----END CERTIFICATE-----\n";
}

/**
 * CCF's checks of a JWK set: every key has a string `kid` and `kty`, and its material as `x5c`
 * (every certificate valid), else `n` and `e` (RSA), else `x`, `y` and `crv` (EC).
 * @param {Args} value
 * @param {string} field
 */
export function checkJwks(value, field) {
  checkType(value, "object", field);
  checkType(value.keys, "array", field + ".keys");
  const kids = new Set();
  /** @type {Args[]} */ (value.keys).forEach(function (key, i) {
    const at = field + ".keys[" + i + "]";
    checkType(key, "object", at);
    checkType(key.kid, "string", at + ".kid");
    checkType(key.kty, "string", at + ".kty");
    if (kids.has(key.kid)) {
      throw new Error(at + ".kid " + JSON.stringify(key.kid) + " appears twice");
    }
    kids.add(key.kid);
    checkType(key.issuer, "string?", at + ".issuer");
    if (key.x5c) {
      checkType(key.x5c, "array", at + ".x5c");
      checkLength(key.x5c, 1, null, at + ".x5c");
      /** @type {unknown[]} */ (key.x5c).forEach(function (cert, j) {
        checkType(cert, "string", at + ".x5c[" + j + "]");
        checkX509CertBundle(derCertToPem(/** @type {string} */ (cert)), at + ".x5c[" + j + "]");
      });
    } else if (key.n && key.e) {
      checkType(key.n, "string", at + ".n");
      checkType(key.e, "string", at + ".e");
    } else if (key.x && key.y) {
      checkType(key.x, "string", at + ".x");
      checkType(key.y, "string", at + ".y");
      checkType(key.crv, "string", at + ".crv");
    } else {
      throw new Error(at + " must give its public key as x5c, n and e (RSA), or x, y and crv (EC)");
    }
  });
}

export function getSingletonKvKey() {
  return new ArrayBuffer(8);
}

/**
 * The JSON value of `key` in `map`, if any.
 * @param {string} map
 * @param {string} key
 * @returns {Args}
 */
export function govGetJson(map, key) {
  const value = ccf.kv[map].get(ccf.strToBuf(key));
  return value === undefined ? undefined : ccf.bufToJsonCompatible(value);
}

/**
 * @param {string} map
 * @param {string} key
 * @param {unknown} value
 */
export function govSetJson(map, key, value) {
  ccf.kv[map].set(ccf.strToBuf(key), ccf.jsonCompatibleToBuf(value));
}

/**
 * @param {string} map
 * @param {string} key
 */
export function govHas(map, key) {
  return ccf.kv[map].has(ccf.strToBuf(key));
}

/**
 * @param {string} map
 * @param {string} key
 */
export function govDelete(map, key) {
  ccf.kv[map].delete(ccf.strToBuf(key));
}

/**
 * A module name as the app's tables key it: with a leading `/`.
 * @param {string} name
 */
export function govWithSlash(name) {
  return name.startsWith("/") ? name : "/" + name;
}

/** The ids of the Active members: those that may propose and whose votes count. */
export function activeMemberIds() {
  /** @type {Set<string>} */
  const active = new Set();
  ccf.kv[GOV_MEMBER_INFO].forEach(function (value, key) {
    /** @type {MemberInfo} */
    const info = ccf.bufToJsonCompatible(value);
    if (info.status === "Active") active.add(ccf.bufToStr(key));
  });
  return active;
}

/**
 * Drops every Open proposal but `keep`: a change of the rules (a constitution, a code id or
 * measurement allowed to join) must not let votes cast under the old ones decide.
 * @param {string} keep
 */
export function invalidateOtherOpenProposals(keep) {
  const info = ccf.kv[GOV_PROPOSALS_INFO];
  info.forEach(function (value, key) {
    if (ccf.bufToStr(key) === keep) return;
    /** @type {{ state: string }} */
    const proposal = ccf.bufToJsonCompatible(value);
    if (proposal.state !== "Open") return;
    proposal.state = "Dropped";
    info.set(key, ccf.jsonCompatibleToBuf(proposal));
  });
}

/**
 * The bytes of a hexadecimal string.
 * @param {string} hex
 * @param {string} field
 */
export function hexToBuf(hex, field) {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new Error(field + " must be a hexadecimal string, not " + JSON.stringify(hex));
  }
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes.buffer;
}

/**
 * The JSON value of a singleton table; throws `what` + " could not be found" without one.
 * @param {string} map
 * @param {string} what
 * @returns {Args}
 */
export function getSingletonJson(map, what) {
  const raw = ccf.kv[map].get(getSingletonKvKey());
  if (raw === undefined) throw new Error(what + " could not be found");
  return ccf.bufToJsonCompatible(raw);
}

/**
 * @param {string} map
 * @param {unknown} value
 */
export function setSingletonJson(map, value) {
  ccf.kv[map].set(getSingletonKvKey(), ccf.jsonCompatibleToBuf(value));
}
