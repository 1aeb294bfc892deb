// deno-lint-ignore-file no-unused-vars -- a fragment of one module: the fragments after it use what it defines
/**
 * The first part of the default constitution: the `Action` class and the argument checks and KV
 * helpers the actions use. `Action`, `actions` and the `check*` helpers keep the names CCF's
 * default constitution gives them, because custom actions appended to a constitution (the KMS's
 * `kms_actions.js`, CCF's samples) call them by those names.
 */
// ---- ccf-sandbox default constitution: actions ----
class Action {
  constructor(validate, apply) {
    this.validate = validate;
    this.apply = apply;
  }
}

function typeNameOf(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

// type: "string" | "boolean" | "number" | "integer" | "object" | "array", "?" suffix = optional.
function checkType(value, type, field) {
  const optional = type.endsWith("?");
  const base = optional ? type.slice(0, -1) : type;
  if (optional && (value === undefined || value === null)) return;
  let ok;
  if (base === "array") ok = Array.isArray(value);
  else if (base === "integer") ok = Number.isInteger(value);
  else if (base === "object") {
    ok = typeof value === "object" && value !== null && !Array.isArray(value);
  } else ok = typeNameOf(value) === base;
  if (!ok) throw new Error(field + " must be of type " + type + " but is " + typeNameOf(value));
}

function checkEnum(value, members, field) {
  if (!members.includes(value)) {
    throw new Error(
      field + " must be one of " + members.join(", ") + " but is " + JSON.stringify(value),
    );
  }
}

function checkBounds(value, low, high, field) {
  if (low !== null && low !== undefined && value < low) {
    throw new Error(field + " must be at least " + low);
  }
  if (high !== null && high !== undefined && value > high) {
    throw new Error(field + " must be at most " + high);
  }
}

function checkLength(value, min, max, field) {
  if (min !== null && min !== undefined && value.length < min) {
    throw new Error(field + " must hold at least " + min + " items");
  }
  if (max !== null && max !== undefined && value.length > max) {
    throw new Error(field + " must hold at most " + max + " items");
  }
}

function checkNone(args) {
  if (args !== null && args !== undefined) {
    throw new Error("this action takes no argument, but got " + JSON.stringify(args));
  }
}

function checkEntityId(value, field) {
  checkType(value, "string", field);
  if (!/^[a-fA-F0-9]{64}$/.test(value)) {
    throw new Error(
      field + " must be 64 hexadecimal characters (a SHA-256 id), not " + JSON.stringify(value),
    );
  }
}

function checkX509CertBundle(value, field) {
  checkType(value, "string", field);
  if (!ccf.crypto.isValidX509CertBundle(value)) {
    throw new Error(field + " must be one or more valid X509 certificates in PEM format");
  }
}

function derCertToPem(base64Der) {
  const lines = [];
  for (let i = 0; i < base64Der.length; i += 64) lines.push(base64Der.slice(i, i + 64));
  return "-----BEGIN CERTIFICATE-----\n" + lines.join("\n") + "\n-----END CERTIFICATE-----\n";
}

// CCF 6 takes a key's material from n/e (RSA), else x/y/crv (EC), else the first x5c certificate.
function checkJwks(value, field) {
  checkType(value, "object", field);
  checkType(value.keys, "array", field + ".keys");
  const kids = new Set();
  value.keys.forEach(function (key, i) {
    const at = field + ".keys[" + i + "]";
    checkType(key, "object", at);
    checkType(key.kid, "string", at + ".kid");
    if (kids.has(key.kid)) {
      throw new Error(at + ".kid " + JSON.stringify(key.kid) + " appears twice");
    }
    kids.add(key.kid);
    checkType(key.kty, "string?", at + ".kty");
    checkType(key.issuer, "string?", at + ".issuer");
    if (key.n !== undefined || key.e !== undefined) {
      checkType(key.n, "string", at + ".n");
      checkType(key.e, "string", at + ".e");
    } else if (key.x !== undefined || key.y !== undefined || key.crv !== undefined) {
      checkType(key.x, "string", at + ".x");
      checkType(key.y, "string", at + ".y");
      checkType(key.crv, "string", at + ".crv");
    } else if (key.x5c !== undefined) {
      checkType(key.x5c, "array", at + ".x5c");
      checkLength(key.x5c, 1, null, at + ".x5c");
      key.x5c.forEach(function (cert, j) {
        checkType(cert, "string", at + ".x5c[" + j + "]");
      });
      checkX509CertBundle(derCertToPem(key.x5c[0]), at + ".x5c[0]");
    } else {
      throw new Error(at + " must give its public key as n and e (RSA), x, y and crv (EC), or x5c");
    }
  });
}

function getSingletonKvKey() {
  return new ArrayBuffer(8);
}

function govGetJson(map, key) {
  const value = ccf.kv[map].get(ccf.strToBuf(key));
  return value === undefined ? undefined : ccf.bufToJsonCompatible(value);
}

function govSetJson(map, key, value) {
  ccf.kv[map].set(ccf.strToBuf(key), ccf.jsonCompatibleToBuf(value));
}

function govHas(map, key) {
  return ccf.kv[map].has(ccf.strToBuf(key));
}

function govDelete(map, key) {
  ccf.kv[map].delete(ccf.strToBuf(key));
}

function govWithSlash(name) {
  return name.startsWith("/") ? name : "/" + name;
}
