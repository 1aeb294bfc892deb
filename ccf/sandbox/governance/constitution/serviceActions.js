// @ts-check
/**
 * Default actions on the service: `set_recovery_threshold`, `set_service_configuration`,
 * `trigger_recovery_shares_refresh`, `trigger_ledger_rekey`, `transition_service_to_open`,
 * `assert_service_identity`, `trigger_ledger_chunk` and `trigger_snapshot`, with the argument
 * checks of CCF 6's default constitution.
 *
 * The service's configuration is the JSON singleton of `public:ccf.gov.service.config`
 * (`recovery_threshold`, `recent_cose_proposals_window_size`, `reconfiguration_type`, the
 * maximum certificate validity periods). A sandbox service has one ledger secret and no recovery
 * shares, so refreshing shares and rekeying change nothing, and it writes no ledger chunks or
 * snapshots: those actions are accepted and have no effect, as the requests of a tool expect.
 *
 * @import { Args, MemberInfo } from "./helpers.js"
 */
import { ccf } from "./ccf.d.ts";
import {
  Action,
  checkBounds,
  checkNone,
  checkType,
  checkX509CertBundle,
  getSingletonJson,
  GOV_MEMBER_ENCRYPTION_KEYS,
  GOV_MEMBER_INFO,
  GOV_SERVICE_CONFIG,
  GOV_SERVICE_INFO,
  setSingletonJson,
} from "./helpers.js";

/** The fields `set_service_configuration` may change. */
const CONFIGURABLE = [
  "reconfiguration_type",
  "recovery_threshold",
  "recent_cose_proposals_window_size",
];

/** Members that are Active and hold a recovery share (they registered an encryption key). */
function activeRecoveryMembers() {
  let count = 0;
  ccf.kv[GOV_MEMBER_ENCRYPTION_KEYS].forEach(function (_value, key) {
    const raw = ccf.kv[GOV_MEMBER_INFO].get(key);
    if (raw === undefined) {
      throw new Error("Recovery member " + ccf.bufToStr(key) + " has no information");
    }
    /** @type {MemberInfo} */
    const info = ccf.bufToJsonCompatible(raw);
    if (info.status === "Active") count++;
  });
  return count;
}

/**
 * Refuses a recovery threshold the service could never meet.
 * @param {number} threshold
 */
function checkRecoveryThreshold(threshold) {
  const service = getSingletonJson(GOV_SERVICE_INFO, "Service information");
  if (service.status === "WaitingForRecoveryShares") {
    throw new Error("Cannot set recovery threshold if service is " + service.status);
  }
  const members = activeRecoveryMembers();
  if (service.status === "Open" && threshold > members) {
    throw new Error(
      "Cannot set recovery threshold to " + threshold +
        ": recovery threshold would be greater than the number of recovery members " + members,
    );
  }
}

/**
 * Applies the configurable fields of `change` to the service configuration, all checks first.
 * @param {Args} change
 */
function updateServiceConfig(change) {
  const config = getSingletonJson(GOV_SERVICE_CONFIG, "Service configuration");
  const from = config.reconfiguration_type;
  const to = change.reconfiguration_type;
  // Only OneTransaction (the default) may become TwoTransaction, as on CCF.
  const upgrade = (from === undefined || from === "OneTransaction") && to === "TwoTransaction";
  if (to !== undefined && to !== from && !upgrade) {
    throw new Error("Cannot change reconfiguration type from " + from + " to " + to + ".");
  }
  const threshold = change.recovery_threshold;
  const newThreshold = threshold !== undefined && threshold !== config.recovery_threshold;
  if (newThreshold) checkRecoveryThreshold(threshold);
  for (const field of CONFIGURABLE) {
    if (change[field] !== undefined) config[field] = change[field];
  }
  setSingletonJson(GOV_SERVICE_CONFIG, config);
  if (newThreshold) ccf.node.triggerRecoverySharesRefresh();
}

/**
 * @param {unknown} pem
 * @param {string} field
 */
function checkIdentity(pem, field) {
  checkType(pem, "string", field);
  checkX509CertBundle(pem, field);
}

function noEffect() {}

/** @type {Array<[string, Action]>} */
export const serviceActions = [
  [
    "set_recovery_threshold",
    new Action(
      function (args) {
        checkType(args, "object", "args");
        checkType(args.recovery_threshold, "integer", "recovery_threshold");
        checkBounds(args.recovery_threshold, 1, 254, "recovery_threshold");
      },
      function (args) {
        updateServiceConfig({ recovery_threshold: args.recovery_threshold });
      },
    ),
  ],
  [
    "set_service_configuration",
    new Action(
      function (args) {
        checkType(args, "object", "args");
        for (const key of Object.keys(args)) {
          if (!CONFIGURABLE.includes(key)) {
            throw new Error("Cannot change " + key + " via set_service_configuration.");
          }
        }
        checkType(args.reconfiguration_type, "string?", "reconfiguration_type");
        checkType(args.recovery_threshold, "integer?", "recovery_threshold");
        if (args.recovery_threshold !== undefined) {
          checkBounds(args.recovery_threshold, 1, 254, "recovery_threshold");
        }
        checkType(
          args.recent_cose_proposals_window_size,
          "integer?",
          "recent_cose_proposals_window_size",
        );
        if (args.recent_cose_proposals_window_size !== undefined) {
          checkBounds(
            args.recent_cose_proposals_window_size,
            1,
            10000,
            "recent_cose_proposals_window_size",
          );
        }
      },
      updateServiceConfig,
    ),
  ],
  [
    "trigger_recovery_shares_refresh",
    new Action(checkNone, function () {
      ccf.node.triggerRecoverySharesRefresh();
    }),
  ],
  [
    "trigger_ledger_rekey",
    new Action(checkNone, function () {
      ccf.node.triggerLedgerRekey();
    }),
  ],
  [
    "transition_service_to_open",
    new Action(
      function (args) {
        checkType(args, "object", "args");
        checkIdentity(args.next_service_identity, "next_service_identity");
        if (args.previous_service_identity !== undefined) {
          checkIdentity(args.previous_service_identity, "previous_service_identity");
        }
      },
      function (args) {
        const service = getSingletonJson(GOV_SERVICE_INFO, "Service information");
        if (service.status === "Recovering" && args.previous_service_identity === undefined) {
          throw new Error(
            "Opening a recovering network requires both, the previous and the next service identity",
          );
        }
        if (args.next_service_identity.trim() !== String(service.cert).trim()) {
          throw new Error("next_service_identity is not the certificate of this service");
        }
        // An open service stays as it is: opening it again is no error.
        if (service.status === "Open") return;
        service.status = "Open";
        setSingletonJson(GOV_SERVICE_INFO, service);
      },
    ),
  ],
  [
    "assert_service_identity",
    new Action(
      function (args) {
        checkType(args, "object", "args");
        checkIdentity(args.service_identity, "service_identity");
        const service = getSingletonJson(GOV_SERVICE_INFO, "Service information");
        if (service.cert !== args.service_identity) {
          throw new Error("Service identity certificate mismatch");
        }
      },
      noEffect,
    ),
  ],
  ["trigger_ledger_chunk", new Action(noEffect, noEffect)],
  ["trigger_snapshot", new Action(noEffect, noEffect)],
];
