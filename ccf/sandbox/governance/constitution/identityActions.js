// @ts-check
/**
 * Default actions on members and users: `set_member`, `remove_member`, `set_member_data`,
 * `set_user`, `remove_user`, `set_user_data`.
 *
 * A new member is `Accepted`, as on CCF: it becomes `Active` (and may propose and vote) once it
 * acknowledges the service's state digest (`POST /gov/members/state-digests/{id}:ack`).
 *
 * @import { Args, MemberInfo } from "./helpers.js"
 */
import { ccf } from "./ccf.d.ts";
import {
  Action,
  activeMemberIds,
  checkEntityId,
  checkEnum,
  checkType,
  checkX509CertBundle,
  GOV_MEMBER_ENCRYPTION_KEYS,
  GOV_MEMBER_INFO,
  govDelete,
  govGetJson,
  govHas,
  govSetJson,
} from "./helpers.js";

const GOV_MEMBER_CERTS = "public:ccf.gov.members.certs";
const GOV_MEMBER_ACKS = "public:ccf.gov.members.acks";
const GOV_USER_CERTS = "public:ccf.gov.users.certs";
const GOV_USER_INFO = "public:ccf.gov.users.info";

// The argument checks and the certificate write that members and users share.
/** @param {Args} args */
function checkCertArgs(args) {
  checkType(args, "object", "args");
  checkX509CertBundle(args.cert, "cert");
}

/**
 * The check of the arguments of an action on one member or user, named by `field`.
 * @param {string} field
 */
function checkIdArgs(field) {
  /** @param {Args} args */
  return function (args) {
    checkType(args, "object", "args");
    checkEntityId(args[field], field);
  };
}

/**
 * @param {string} table
 * @param {string} cert
 */
function setCert(table, cert) {
  const id = ccf.pemToId(cert);
  ccf.kv[table].set(ccf.strToBuf(id), ccf.strToBuf(cert));
  return id;
}

/** @type {Array<[string, Action]>} */
export const identityActions = [
  [
    "set_member",
    new Action(
      function (args) {
        checkCertArgs(args);
        checkType(args.encryption_pub_key, "string?", "encryption_pub_key");
        if (args.recovery_role !== undefined) {
          checkEnum(
            args.recovery_role,
            ["NonParticipant", "Participant", "Owner"],
            "recovery_role",
          );
          if (args.recovery_role !== "NonParticipant" && !args.encryption_pub_key) {
            throw new Error(
              "a " + args.recovery_role + " recovery member needs an encryption_pub_key",
            );
          }
        }
      },
      function (args) {
        const id = ccf.pemToId(args.cert);
        // As on CCF, registering a certificate that is already a member's changes nothing.
        if (govHas(GOV_MEMBER_CERTS, id)) return;
        /** @type {MemberInfo} */
        const info = { status: "Accepted" };
        if (args.member_data !== undefined) info.member_data = args.member_data;
        info.recovery_role = args.recovery_role !== undefined
          ? args.recovery_role
          : args.encryption_pub_key
          ? "Participant"
          : "NonParticipant";
        setCert(GOV_MEMBER_CERTS, args.cert);
        govSetJson(GOV_MEMBER_INFO, id, info);
        if (args.encryption_pub_key) {
          ccf.kv[GOV_MEMBER_ENCRYPTION_KEYS].set(
            ccf.strToBuf(id),
            ccf.strToBuf(args.encryption_pub_key),
          );
        }
      },
    ),
  ],
  [
    "remove_member",
    new Action(
      checkIdArgs("member_id"),
      function (args) {
        const info = govGetJson(GOV_MEMBER_INFO, args.member_id);
        if (info === undefined) return;
        // Without an active member nobody could ever propose again (CCF's recovery-member rule
        // prevents this on a real service).
        if (info.status === "Active" && activeMemberIds().size <= 1) {
          throw new Error(
            "member " + args.member_id + " is the last active member and cannot be removed",
          );
        }
        govDelete(GOV_MEMBER_CERTS, args.member_id);
        govDelete(GOV_MEMBER_INFO, args.member_id);
        govDelete(GOV_MEMBER_ENCRYPTION_KEYS, args.member_id);
        govDelete(GOV_MEMBER_ACKS, args.member_id);
      },
    ),
  ],
  [
    "set_member_data",
    new Action(
      checkIdArgs("member_id"),
      function (args) {
        const info = govGetJson(GOV_MEMBER_INFO, args.member_id);
        if (info === undefined) throw new Error("member " + args.member_id + " does not exist");
        info.member_data = args.member_data;
        govSetJson(GOV_MEMBER_INFO, args.member_id, info);
      },
    ),
  ],
  [
    "set_user",
    new Action(
      checkCertArgs,
      function (args) {
        const id = setCert(GOV_USER_CERTS, args.cert);
        govSetJson(GOV_USER_INFO, id, { user_data: args.user_data });
      },
    ),
  ],
  [
    "remove_user",
    new Action(
      checkIdArgs("user_id"),
      function (args) {
        govDelete(GOV_USER_CERTS, args.user_id);
        govDelete(GOV_USER_INFO, args.user_id);
      },
    ),
  ],
  [
    "set_user_data",
    new Action(
      checkIdArgs("user_id"),
      function (args) {
        if (!govHas(GOV_USER_CERTS, args.user_id)) {
          throw new Error("user " + args.user_id + " does not exist");
        }
        govSetJson(GOV_USER_INFO, args.user_id, { user_data: args.user_data });
      },
    ),
  ],
];
