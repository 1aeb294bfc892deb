// @ts-check
/**
 * Default actions on the JavaScript app and the constitution: `set_js_app` (with the checks of
 * CCF's default constitution, CCF's samples/constitutions/default/actions.js), `remove_js_app`,
 * `refresh_js_app_bytecode_cache`, `set_js_runtime_options` and `set_constitution`.
 *
 * @import { Args } from "./helpers.js"
 */
/**
 * The value of `public:ccf.gov.js_runtime_options`.
 * @typedef {object} JsRuntimeOptions
 * @property {number} max_heap_bytes
 * @property {number} max_stack_bytes
 * @property {number} max_execution_time_ms
 * @property {boolean} log_exception_details
 * @property {boolean} return_exception_details
 * @property {number} [max_cached_interpreters]
 */
import { ccf } from "./ccf.d.ts";
import {
  Action,
  checkBounds,
  checkEnum,
  checkNone,
  checkType,
  getSingletonKvKey,
  govWithSlash,
  invalidateOtherOpenProposals,
} from "./helpers.js";

const GOV_MODULES = "public:ccf.gov.modules";
const GOV_ENDPOINTS = "public:ccf.gov.endpoints";
const GOV_INTERPRETER_FLUSH = "public:ccf.gov.interpreter.flush";
const GOV_RUNTIME_OPTIONS = "public:ccf.gov.js_runtime_options";
const GOV_CONSTITUTION = "public:ccf.gov.constitution";

/**
 * @param {Args} policies
 * @param {string} field
 */
function checkAuthnPolicies(policies, field) {
  checkType(policies, "array", field);
  /** @type {Args[]} */ (policies).forEach(function (policy, i) {
    const at = field + "[" + i + "]";
    if (typeof policy === "string") return;
    checkType(policy, "object", at);
    checkType(policy.all_of, "array", at + ".all_of");
    /** @type {unknown[]} */ (policy.all_of).forEach(function (name, j) {
      checkType(name, "string", at + ".all_of[" + j + "]");
    });
  });
}

/** @param {Args} bundle */
function checkJsAppBundle(bundle) {
  checkType(bundle, "object", "bundle");
  checkType(bundle.modules, "array", "bundle.modules");
  const names = new Set();
  /** @type {Args[]} */ (bundle.modules).forEach(function (m, i) {
    const at = "bundle.modules[" + i + "]";
    checkType(m, "object", at);
    checkType(m.name, "string", at + ".name");
    checkType(m.module, "string", at + ".module");
    names.add(govWithSlash(m.name));
  });
  checkType(bundle.metadata, "object", "bundle.metadata");
  checkType(bundle.metadata.endpoints, "object", "bundle.metadata.endpoints");
  for (const [url, methods] of Object.entries(bundle.metadata.endpoints)) {
    const path = "bundle.metadata.endpoints[" + JSON.stringify(url) + "]";
    if (!url.startsWith("/")) throw new Error(path + ": an endpoint path must start with /");
    checkType(methods, "object", path);
    for (const [method, info] of Object.entries(methods)) {
      const at = path + "." + method;
      checkType(info, "object", at);
      checkType(info.js_module, "string", at + ".js_module");
      checkType(info.js_function, "string", at + ".js_function");
      checkEnum(info.mode, ["readwrite", "readonly", "historical"], at + ".mode");
      checkEnum(
        info.forwarding_required,
        ["sometimes", "always", "never"],
        at + ".forwarding_required",
      );
      if (info.redirection_strategy !== undefined) {
        checkEnum(
          info.redirection_strategy,
          ["none", "to_primary", "to_backup"],
          at + ".redirection_strategy",
        );
      }
      checkType(info.openapi, "object?", at + ".openapi");
      checkType(info.openapi_hidden, "boolean?", at + ".openapi_hidden");
      checkAuthnPolicies(info.authn_policies, at + ".authn_policies");
      if (info.interpreter_reuse !== undefined) {
        checkType(info.interpreter_reuse, "object", at + ".interpreter_reuse");
        checkType(info.interpreter_reuse.key, "string", at + ".interpreter_reuse.key");
      }
      if (!names.has(govWithSlash(info.js_module))) {
        throw new Error(
          at + ".js_module " + JSON.stringify(info.js_module) + " is not a module of the bundle",
        );
      }
    }
  }
}

function removeJsApp() {
  ccf.kv[GOV_MODULES].clear();
  ccf.kv[GOV_ENDPOINTS].clear();
  ccf.kv[GOV_INTERPRETER_FLUSH].set(getSingletonKvKey(), ccf.jsonCompatibleToBuf(true));
}

/** @type {Array<[string, Action]>} */
export const appActions = [
  [
    "set_js_app",
    new Action(
      function (args) {
        checkType(args, "object", "args");
        checkJsAppBundle(args.bundle);
        checkType(args.disable_bytecode_cache, "boolean?", "disable_bytecode_cache");
      },
      function (args) {
        // The new app replaces the old one entirely, as one transaction.
        removeJsApp();
        const modules = ccf.kv[GOV_MODULES];
        for (const m of args.bundle.modules) {
          modules.set(ccf.strToBuf(govWithSlash(m.name)), ccf.strToBuf(m.module));
        }
        const endpoints = ccf.kv[GOV_ENDPOINTS];
        for (const [url, methods] of Object.entries(args.bundle.metadata.endpoints)) {
          for (const [method, info] of Object.entries(methods)) {
            const stored = Object.assign({}, info, { js_module: govWithSlash(info.js_module) });
            endpoints.set(
              ccf.strToBuf(method.toUpperCase() + " " + url),
              ccf.jsonCompatibleToBuf(stored),
            );
          }
        }
        // Compiling now makes a syntax error fail the proposal instead of every later request.
        if (!args.disable_bytecode_cache) ccf.refreshAppBytecodeCache();
      },
    ),
  ],
  [
    "remove_js_app",
    new Action(checkNone, removeJsApp),
  ],
  [
    "refresh_js_app_bytecode_cache",
    new Action(
      checkNone,
      function () {
        // Not passed as is: it takes no arguments, and `ccf` has it only while `apply` runs.
        ccf.refreshAppBytecodeCache();
      },
    ),
  ],
  [
    "set_js_runtime_options",
    new Action(
      function (args) {
        checkType(args, "object", "args");
        for (const field of ["max_heap_bytes", "max_stack_bytes", "max_execution_time_ms"]) {
          checkType(args[field], "integer", field);
          checkBounds(args[field], 1, null, field);
        }
        checkType(args.log_exception_details, "boolean?", "log_exception_details");
        checkType(args.return_exception_details, "boolean?", "return_exception_details");
        checkType(args.max_cached_interpreters, "integer?", "max_cached_interpreters");
        if (args.max_cached_interpreters !== undefined) {
          checkBounds(args.max_cached_interpreters, 0, null, "max_cached_interpreters");
        }
      },
      function (args) {
        /** @type {JsRuntimeOptions} */
        const options = {
          max_heap_bytes: args.max_heap_bytes,
          max_stack_bytes: args.max_stack_bytes,
          max_execution_time_ms: args.max_execution_time_ms,
          log_exception_details: args.log_exception_details === true,
          return_exception_details: args.return_exception_details === true,
        };
        if (args.max_cached_interpreters !== undefined) {
          options.max_cached_interpreters = args.max_cached_interpreters;
        }
        ccf.kv[GOV_RUNTIME_OPTIONS].set(getSingletonKvKey(), ccf.jsonCompatibleToBuf(options));
      },
    ),
  ],
  [
    "set_constitution",
    new Action(
      function (args) {
        checkType(args, "object", "args");
        checkType(args.constitution, "string", "constitution");
      },
      function (args, proposalId) {
        ccf.kv[GOV_CONSTITUTION].set(
          getSingletonKvKey(),
          ccf.jsonCompatibleToBuf(args.constitution),
        );
        invalidateOtherOpenProposals(proposalId);
      },
    ),
  ],
];
