// @ts-check
/**
 * Default actions on trusted token issuers and CA bundles: `set_ca_cert_bundle`,
 * `remove_ca_cert_bundle`, `set_jwt_issuer`, `set_jwt_public_signing_keys`, `remove_jwt_issuer`.
 * Signing keys are stored by the host (`ccf.setJwtPublicSigningKeys`), which turns each JWK into
 * the DER public key CCF 6 keeps.
 *
 * @import { Args } from "./helpers.js"
 */
import { ccf } from "./ccf.d.ts";
import {
  Action,
  checkEnum,
  checkJwks,
  checkType,
  checkX509CertBundle,
  govDelete,
  govGetJson,
  govHas,
  govSetJson,
} from "./helpers.js";

/**
 * An issuer's record in `public:ccf.gov.jwt.issuers`: the `set_jwt_issuer` arguments without
 * `jwks`.
 * @typedef {object} JwtIssuerMetadata
 * @property {string} issuer
 * @property {boolean} [auto_refresh]
 * @property {string} [ca_cert_bundle_name]
 * @property {string} [key_filter]
 * @property {unknown} [key_policy]
 */
const GOV_CA_CERT_BUNDLES = "public:ccf.gov.tls.ca_cert_bundles";
const GOV_JWT_ISSUERS = "public:ccf.gov.jwt.issuers";

/** @param {Args} args */
function checkJwtIssuerArgs(args) {
  checkType(args, "object", "args");
  checkType(args.issuer, "string", "issuer");
  checkType(args.auto_refresh, "boolean?", "auto_refresh");
  checkType(args.ca_cert_bundle_name, "string?", "ca_cert_bundle_name");
  if (args.key_filter !== undefined) checkEnum(args.key_filter, ["all", "sgx"], "key_filter");
  checkType(args.key_policy, "object?", "key_policy");
  if (args.jwks !== undefined) checkJwks(args.jwks, "jwks");
  if (args.auto_refresh) {
    if (!args.ca_cert_bundle_name) {
      throw new Error("ca_cert_bundle_name is missing but required if auto_refresh is true");
    }
    // Keys are fetched from <issuer>/.well-known/openid-configuration, so the issuer must be a
    // plain https URL.
    if (!/^https:\/\/[^?#]+$/.test(args.issuer)) {
      throw new Error(
        "issuer must be an https URL without query or fragment if auto_refresh is true",
      );
    }
  }
}

/** @type {Array<[string, Action]>} */
export const jwtActions = [
  [
    "set_ca_cert_bundle",
    new Action(
      function (args) {
        checkType(args, "object", "args");
        checkType(args.name, "string", "name");
        checkX509CertBundle(args.cert_bundle, "cert_bundle");
      },
      function (args) {
        govSetJson(GOV_CA_CERT_BUNDLES, args.name, args.cert_bundle);
      },
    ),
  ],
  [
    "remove_ca_cert_bundle",
    new Action(
      function (args) {
        checkType(args, "object", "args");
        checkType(args.name, "string", "name");
      },
      function (args) {
        // As CCF's does, even while an issuer refreshes its keys with it (its refreshes then fail).
        govDelete(GOV_CA_CERT_BUNDLES, args.name);
      },
    ),
  ],
  [
    "set_jwt_issuer",
    new Action(
      checkJwtIssuerArgs,
      function (args) {
        if (args.auto_refresh && !govHas(GOV_CA_CERT_BUNDLES, args.ca_cert_bundle_name)) {
          throw new Error("No CA cert bundle found with name '" + args.ca_cert_bundle_name + "'");
        }
        // As CCF's does, the issuer's record is the arguments as proposed, less the keys.
        const { jwks: _jwks, ...metadata } = args;
        govSetJson(GOV_JWT_ISSUERS, args.issuer, metadata);
        if (args.jwks !== undefined) ccf.setJwtPublicSigningKeys(args.issuer, metadata, args.jwks);
      },
    ),
  ],
  [
    "set_jwt_public_signing_keys",
    new Action(
      function (args) {
        checkType(args, "object", "args");
        checkType(args.issuer, "string", "issuer");
        checkJwks(args.jwks, "jwks");
      },
      function (args) {
        const metadata = govGetJson(GOV_JWT_ISSUERS, args.issuer);
        if (metadata === undefined) {
          throw new Error("issuer " + JSON.stringify(args.issuer) + " not found");
        }
        ccf.setJwtPublicSigningKeys(args.issuer, metadata, args.jwks);
      },
    ),
  ],
  [
    "remove_jwt_issuer",
    new Action(
      function (args) {
        checkType(args, "object", "args");
        checkType(args.issuer, "string", "issuer");
      },
      function (args) {
        // An issuer that is not trusted is already removed: CCF's does nothing, and succeeds.
        if (!govHas(GOV_JWT_ISSUERS, args.issuer)) return;
        govDelete(GOV_JWT_ISSUERS, args.issuer);
        ccf.removeJwtPublicSigningKeys(args.issuer);
      },
    ),
  ],
];
