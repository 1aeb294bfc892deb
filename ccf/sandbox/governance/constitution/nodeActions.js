// @ts-check
/**
 * Default actions on the nodes of the service and what may join it, with the argument checks of
 * CCF 6's default constitution (and of its virtual-attestation actions): code ids, SNP
 * measurements, host data, UVM endorsements and TCB versions, virtual measurements and host data,
 * and the nodes themselves (`transition_node_to_trusted`, `remove_node`, `set_node_data`,
 * `set_node_certificate_validity`, `set_all_nodes_certificate_validity`).
 *
 * Allowing something new to join changes what other open proposals mean, so those actions drop
 * them. The sandbox's nodes keep the certificates they were endorsed with: the certificate
 * validity actions check their arguments and the nodes as CCF does, and renew nothing.
 *
 * @import { Args } from "./helpers.js"
 */
import { ccf } from "./ccf.d.ts";
import {
  Action,
  checkBounds,
  checkEntityId,
  checkLength,
  checkType,
  getSingletonJson,
  getSingletonKvKey,
  GOV_SERVICE_CONFIG,
  govDelete,
  govGetJson,
  govSetJson,
  hexToBuf,
  invalidateOtherOpenProposals,
} from "./helpers.js";

const GOV_NODES_INFO = "public:ccf.gov.nodes.info";
const GOV_CODE_IDS = "public:ccf.gov.nodes.code_ids";
const GOV_SNP_MEASUREMENTS = "public:ccf.gov.nodes.snp.measurements";
const GOV_SNP_HOST_DATA = "public:ccf.gov.nodes.snp.host_data";
const GOV_SNP_UVM_ENDORSEMENTS = "public:ccf.gov.nodes.snp.uvm_endorsements";
const GOV_SNP_TCB_VERSIONS = "public:ccf.gov.nodes.snp.tcb_versions";
const GOV_VIRTUAL_MEASUREMENTS = "public:ccf.gov.nodes.virtual.measurements";
const GOV_VIRTUAL_HOST_DATA = "public:ccf.gov.nodes.virtual.host_data";
const ALLOWED_TO_JOIN = "AllowedToJoin";
const DEFAULT_VALIDITY_DAYS = 365;

/**
 * The check of arguments that hold string fields only.
 * @param {...string} fields
 */
function checkStrings(...fields) {
  /** @param {Args} args */
  return function (args) {
    checkType(args, "object", "args");
    for (const field of fields) checkType(args[field], "string", field);
  };
}

/**
 * An action that allows `args[field]` to join through `table`, and the one that removes it.
 * @param {string} table
 * @param {string} field
 * @returns {[Action, Action]}
 */
function allowList(table, field) {
  return [
    new Action(checkStrings(field), function (args, proposalId) {
      govSetJson(table, args[field], ALLOWED_TO_JOIN);
      invalidateOtherOpenProposals(proposalId);
    }),
    new Action(checkStrings(field), function (args) {
      govDelete(table, args[field]);
    }),
  ];
}

/** @param {Args} args */
function checkHostData(args) {
  checkStrings("security_policy", "host_data")(args);
  // A policy given in full must be the one the host data is the SHA-256 digest of.
  if (args.security_policy === "") return;
  const digest = new Uint8Array(ccf.crypto.digest("SHA-256", ccf.strToBuf(args.security_policy)));
  const hostData = new Uint8Array(hexToBuf(args.host_data, "host_data"));
  const same = digest.length === hostData.length &&
    digest.every(function (b, i) {
      return b === hostData[i];
    });
  if (!same) {
    throw new Error("host_data is not the SHA-256 digest of security_policy");
  }
}

/** @param {Args} args */
function checkCpuid(args) {
  checkType(args, "object", "args");
  checkType(args.cpuid, "string", "cpuid");
  checkLength(args.cpuid, 8, 8, "cpuid");
  hexToBuf(args.cpuid, "cpuid");
}

/** @param {Args} args */
function checkTcbVersion(args) {
  checkCpuid(args);
  checkType(args.tcb_version, "object", "tcb_version");
  for (const part of ["boot_loader", "tee", "snp", "microcode"]) {
    checkType(args.tcb_version?.[part], "number", "tcb_version." + part);
  }
}

/**
 * The checks of a certificate validity period: `valid_from` and optional whole days.
 * @param {Args} args
 */
function checkValidity(args) {
  checkType(args, "object", "args");
  checkType(args.valid_from, "string", "valid_from");
  if (args.validity_period_days !== undefined) {
    checkType(args.validity_period_days, "integer", "validity_period_days");
    checkBounds(args.validity_period_days, 1, null, "validity_period_days");
  }
}

/** @param {Args} args */
function checkNodeValidity(args) {
  checkValidity(args);
  checkEntityId(args.node_id, "node_id");
}

/**
 * Refuses a node certificate validity period beyond the service's maximum.
 * @param {number | undefined} days
 */
function checkNodeValidityDays(days) {
  const config = getSingletonJson(GOV_SERVICE_CONFIG, "Service configuration");
  const max = config.maximum_node_certificate_validity_days ?? DEFAULT_VALIDITY_DAYS;
  if (days !== undefined && days > max) {
    throw new Error(
      "Validity period " + days + " (days) is not allowed: service max allowed is " + max +
        " (days)",
    );
  }
}

/**
 * The node's record; throws if there is none.
 * @param {string} nodeId
 */
function nodeInfo(nodeId) {
  const info = govGetJson(GOV_NODES_INFO, nodeId);
  if (info === undefined) throw new Error("No such node: " + nodeId);
  return info;
}

const [addCodeId, removeCodeId] = allowList(GOV_CODE_IDS, "code_id");
const [addSnpMeasurement, removeSnpMeasurement] = allowList(GOV_SNP_MEASUREMENTS, "measurement");
const [addVirtualMeasurement, removeVirtualMeasurement] = allowList(
  GOV_VIRTUAL_MEASUREMENTS,
  "measurement",
);

/** @type {Array<[string, Action]>} */
export const nodeActions = [
  ["add_node_code", addCodeId],
  ["remove_node_code", removeCodeId],
  ["add_snp_measurement", addSnpMeasurement],
  ["remove_snp_measurement", removeSnpMeasurement],
  ["add_virtual_measurement", addVirtualMeasurement],
  ["remove_virtual_measurement", removeVirtualMeasurement],
  [
    "add_snp_host_data",
    new Action(checkHostData, function (args, proposalId) {
      govSetJson(GOV_SNP_HOST_DATA, args.host_data, args.security_policy);
      invalidateOtherOpenProposals(proposalId);
    }),
  ],
  [
    "remove_snp_host_data",
    new Action(checkStrings("host_data"), function (args) {
      govDelete(GOV_SNP_HOST_DATA, args.host_data);
    }),
  ],
  [
    "add_virtual_host_data",
    new Action(checkStrings("host_data"), function (args, proposalId) {
      // A set of host data: the value carries nothing.
      ccf.kv[GOV_VIRTUAL_HOST_DATA].set(ccf.strToBuf(args.host_data), getSingletonKvKey());
      invalidateOtherOpenProposals(proposalId);
    }),
  ],
  [
    "remove_virtual_host_data",
    new Action(checkStrings("host_data"), function (args) {
      govDelete(GOV_VIRTUAL_HOST_DATA, args.host_data);
    }),
  ],
  [
    "add_snp_uvm_endorsement",
    new Action(checkStrings("did", "feed", "svn"), function (args, proposalId) {
      const feeds = govGetJson(GOV_SNP_UVM_ENDORSEMENTS, args.did) ?? {};
      feeds[args.feed] = { svn: args.svn };
      govSetJson(GOV_SNP_UVM_ENDORSEMENTS, args.did, feeds);
      invalidateOtherOpenProposals(proposalId);
    }),
  ],
  [
    "remove_snp_uvm_endorsement",
    new Action(checkStrings("did", "feed"), function (args) {
      const feeds = govGetJson(GOV_SNP_UVM_ENDORSEMENTS, args.did) ?? {};
      delete feeds[args.feed];
      // A DID without feeds is no longer endorsed at all.
      if (Object.keys(feeds).length === 0) govDelete(GOV_SNP_UVM_ENDORSEMENTS, args.did);
      else govSetJson(GOV_SNP_UVM_ENDORSEMENTS, args.did, feeds);
    }),
  ],
  [
    "add_snp_tcb_version",
    new Action(checkTcbVersion, function (args, proposalId) {
      // Upper case, so that one CPUID has one entry whatever the case it was proposed in.
      govSetJson(GOV_SNP_TCB_VERSIONS, args.cpuid.toUpperCase(), args.tcb_version);
      invalidateOtherOpenProposals(proposalId);
    }),
  ],
  [
    "remove_snp_tcb_version",
    new Action(checkCpuid, function (args) {
      let found = false;
      for (const cpuid of [args.cpuid.toLowerCase(), args.cpuid.toUpperCase()]) {
        if (govGetJson(GOV_SNP_TCB_VERSIONS, cpuid) === undefined) continue;
        govDelete(GOV_SNP_TCB_VERSIONS, cpuid);
        found = true;
      }
      if (!found) throw new Error("CPUID not found");
    }),
  ],
  [
    "set_node_data",
    new Action(
      function (args) {
        checkType(args, "object", "args");
        checkEntityId(args.node_id, "node_id");
      },
      function (args) {
        const info = govGetJson(GOV_NODES_INFO, args.node_id);
        if (info === undefined) throw new Error("Node " + args.node_id + " does not exist");
        info.node_data = args.node_data;
        govSetJson(GOV_NODES_INFO, args.node_id, info);
      },
    ),
  ],
  [
    "transition_node_to_trusted",
    new Action(checkNodeValidity, function (args) {
      const info = nodeInfo(args.node_id);
      // Only a node waiting to join becomes trusted; any other stays as it is.
      if (info.status !== "Pending") return;
      checkNodeValidityDays(args.validity_period_days);
      info.status = "Trusted";
      info.ledger_secret_seqno = ccf.network.getLatestLedgerSecretSeqno();
      govSetJson(GOV_NODES_INFO, args.node_id, info);
    }),
  ],
  [
    "remove_node",
    new Action(
      function (args) {
        checkType(args, "object", "args");
        checkEntityId(args.node_id, "node_id");
      },
      function (args) {
        const info = govGetJson(GOV_NODES_INFO, args.node_id);
        if (info === undefined) return;
        // A node that never joined leaves no trace; one that did stays on record, retired.
        if (info.status === "Pending") {
          govDelete(GOV_NODES_INFO, args.node_id);
          return;
        }
        info.status = "Retired";
        govSetJson(GOV_NODES_INFO, args.node_id, info);
      },
    ),
  ],
  [
    "set_node_certificate_validity",
    new Action(checkNodeValidity, function (args) {
      if (nodeInfo(args.node_id).status !== "Trusted") {
        throw new Error("Node " + args.node_id + " is not trusted");
      }
      checkNodeValidityDays(args.validity_period_days);
    }),
  ],
  [
    "set_all_nodes_certificate_validity",
    new Action(checkValidity, function (args) {
      checkNodeValidityDays(args.validity_period_days);
    }),
  ],
];
