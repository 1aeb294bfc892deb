/**
 * The actions of CCF 6's default constitution on the service and its nodes, and the argument
 * checks the constitution shares with custom actions appended to it: each action's effect on the
 * governance tables CCF writes, and an argument it refuses.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { DEFAULT_CONSTITUTION } from "../../../../ccf/sandbox/governance/constitution/mod.ts";
import { ConstitutionRunner } from "../../../../ccf/sandbox/governance/runner.ts";
import {
  ensureServiceConfig,
  memberEncryptionKeys,
  serviceConfig,
} from "../../../../ccf/sandbox/governance/tables.ts";
import { proposalsInfo, serviceInfo, singletonKey } from "../../../../ccf/sandbox/govTables.ts";
import { KvStore, type KvTransaction } from "../../../../ccf/sandbox/kv.ts";
import { sharedEngine } from "../../../../ccf/sandbox/quickjs/engine.ts";
import { newMember, proposal, registerMembers, text, utf8 } from "./_harness.ts";

const runner = new ConstitutionRunner(await sharedEngine());
const PROPOSAL_ID = "p".repeat(64);
const NODE_TRUSTED = "a".repeat(64);
const NODE_PENDING = "b".repeat(64);
const NODES_INFO = "public:ccf.gov.nodes.info";

const serviceCa = await newMember("service");

/** A transaction over an Open service with one Active member, CCF's default configuration and
 * a trusted and a pending node. */
const fresh = async (status = "Open"): Promise<KvTransaction> => {
  const tx = new KvStore().begin();
  registerMembers(tx, [await newMember("m0")]);
  tx.set(serviceInfo, singletonKey, utf8(JSON.stringify({ cert: serviceCa.certPem, status })));
  ensureServiceConfig(tx);
  for (const [id, state] of [[NODE_TRUSTED, "Trusted"], [NODE_PENDING, "Pending"]]) {
    tx.set(NODES_INFO, utf8(id), utf8(JSON.stringify({ status: state, node_data: null })));
  }
  return tx;
};

const validate = (tx: KvTransaction, name: string, args?: unknown, constitution?: string) => {
  const r = runner.validate(tx, constitution ?? DEFAULT_CONSTITUTION, proposal({ name, args }));
  assert.ok(r.ok, JSON.stringify(r));
  return r.value;
};

/** The reason validation refuses `args`. */
const refused = (tx: KvTransaction, name: string, args?: unknown): string => {
  const v = validate(tx, name, args);
  assert.ok(!v.valid, `${name} ${JSON.stringify(args)} passed validation`);
  return v.description;
};

/** Validates and applies; returns the failure reason of apply, or `undefined`. */
const apply = (tx: KvTransaction, name: string, args?: unknown): string | undefined => {
  const v = validate(tx, name, args);
  assert.ok(v.valid, v.description);
  const r = runner.apply(tx, DEFAULT_CONSTITUTION, proposal({ name, args }), PROPOSAL_ID);
  return r.ok ? undefined : r.failure.reason;
};

const json = (tx: KvTransaction, map: string, key: string | Uint8Array) => {
  const raw = tx.get(map, typeof key === "string" ? utf8(key) : key);
  return raw === undefined ? undefined : JSON.parse(text(raw)!);
};

const config = (tx: KvTransaction) => json(tx, serviceConfig, singletonKey);

/** An Open proposal other than the one applied, which rule changes drop. */
const openProposal = (tx: KvTransaction, id: string) =>
  tx.set(proposalsInfo, utf8(id), utf8(JSON.stringify({ state: "Open", ballots: {} })));

Deno.test("checkType is CCF's: typeof for objects, so custom actions accept arrays and null", async () => {
  const tx = await fresh();
  const custom = `${DEFAULT_CONSTITUTION}
actions.set("check_object", new Action(function (args) {
  checkType(args.value, "object", "value");
}, function () {}));
`;
  const v = (value: unknown) =>
    validate(tx, "check_object", value === undefined ? {} : { value }, custom);
  assert.ok(v([1, 2]).valid);
  assert.ok(v(null).valid);
  assert.ok(v({ a: 1 }).valid);
  assert.match(v("text").description, /value must be of type object but is string/);
  assert.match(v(undefined).description, /value must be of type object but is undefined/);
});

Deno.test("set_recovery_threshold: bounded, never above the active recovery members", async () => {
  const tx = await fresh();
  assert.match(refused(tx, "set_recovery_threshold", { recovery_threshold: 0 }), /at least 1/);
  assert.match(refused(tx, "set_recovery_threshold", { recovery_threshold: 255 }), /at most 254/);
  assert.match(
    refused(tx, "set_recovery_threshold", { recovery_threshold: "2" }),
    /recovery_threshold must be of type integer/,
  );
  assert.match(
    apply(tx, "set_recovery_threshold", { recovery_threshold: 2 })!,
    /greater than the number of recovery members 0/,
  );
  for (const name of ["r1", "r2"]) {
    const m = await newMember(name);
    registerMembers(tx, [m]);
    tx.set(memberEncryptionKeys, utf8(m.id), utf8("-----BEGIN PUBLIC KEY-----"));
  }
  assert.equal(apply(tx, "set_recovery_threshold", { recovery_threshold: 2 }), undefined);
  assert.equal(config(tx).recovery_threshold, 2);
});

Deno.test("set_service_configuration: only its three fields, reconfiguration only upwards", async () => {
  const tx = await fresh();
  assert.match(
    refused(tx, "set_service_configuration", { maximum_node_certificate_validity_days: 5 }),
    /Cannot change maximum_node_certificate_validity_days via set_service_configuration/,
  );
  assert.match(
    refused(tx, "set_service_configuration", { recent_cose_proposals_window_size: 10001 }),
    /at most 10000/,
  );
  assert.equal(
    apply(tx, "set_service_configuration", {
      recent_cose_proposals_window_size: 20,
      reconfiguration_type: "TwoTransaction",
    }),
    undefined,
  );
  assert.equal(config(tx).recent_cose_proposals_window_size, 20);
  assert.equal(config(tx).reconfiguration_type, "TwoTransaction");
  assert.equal(config(tx).recovery_threshold, 1);
  assert.match(
    apply(tx, "set_service_configuration", { reconfiguration_type: "OneTransaction" })!,
    /Cannot change reconfiguration type from TwoTransaction to OneTransaction/,
  );
});

Deno.test("transition_service_to_open: opens with the service's own identity only", async () => {
  const tx = await fresh("Opening");
  assert.match(
    refused(tx, "transition_service_to_open", { next_service_identity: "not a cert" }),
    /next_service_identity must be one or more valid X509/,
  );
  const other = await newMember("other");
  assert.match(
    apply(tx, "transition_service_to_open", { next_service_identity: other.certPem })!,
    /not the certificate of this service/,
  );
  assert.equal(json(tx, serviceInfo, singletonKey).status, "Opening");
  assert.equal(
    apply(tx, "transition_service_to_open", { next_service_identity: serviceCa.certPem }),
    undefined,
  );
  assert.equal(json(tx, serviceInfo, singletonKey).status, "Open");
  assert.equal(
    apply(tx, "transition_service_to_open", { next_service_identity: serviceCa.certPem }),
    undefined,
  );

  const recovering = await fresh("Recovering");
  assert.match(
    apply(recovering, "transition_service_to_open", { next_service_identity: serviceCa.certPem })!,
    /requires both, the previous and the next service identity/,
  );
});

Deno.test("assert_service_identity and the triggers: checked, and nothing to change", async () => {
  const tx = await fresh();
  assert.ok(validate(tx, "assert_service_identity", { service_identity: serviceCa.certPem }).valid);
  const other = await newMember("other");
  assert.match(
    refused(tx, "assert_service_identity", { service_identity: other.certPem }),
    /Service identity certificate mismatch/,
  );
  for (const name of ["trigger_ledger_rekey", "trigger_recovery_shares_refresh"]) {
    assert.equal(apply(tx, name), undefined);
    assert.match(refused(tx, name, { now: true }), /takes no argument/);
  }
  assert.equal(apply(tx, "trigger_snapshot"), undefined);
  assert.equal(apply(tx, "trigger_ledger_chunk"), undefined);
});

Deno.test("code ids and measurements: allowed to join, dropping other open proposals", async () => {
  const tx = await fresh();
  const cases = [
    ["add_node_code", "remove_node_code", "code_id", "public:ccf.gov.nodes.code_ids"],
    [
      "add_snp_measurement",
      "remove_snp_measurement",
      "measurement",
      "public:ccf.gov.nodes.snp.measurements",
    ],
    [
      "add_virtual_measurement",
      "remove_virtual_measurement",
      "measurement",
      "public:ccf.gov.nodes.virtual.measurements",
    ],
  ];
  for (const [add, remove, field, table] of cases) {
    openProposal(tx, "other");
    assert.match(refused(tx, add, { [field]: 7 }), new RegExp(`${field} must be of type string`));
    assert.equal(apply(tx, add, { [field]: "abcd" }), undefined);
    assert.equal(json(tx, table, "abcd"), "AllowedToJoin");
    assert.equal(json(tx, proposalsInfo, "other").state, "Dropped", add);
    assert.equal(apply(tx, remove, { [field]: "abcd" }), undefined);
    assert.equal(tx.get(table, utf8("abcd")), undefined);
  }
});

Deno.test("host data: an SNP security policy must hash to its host data", async () => {
  const tx = await fresh();
  const policy = "package policy\nallow := true\n";
  const digest = createHash("sha256").update(policy).digest("hex");
  const table = "public:ccf.gov.nodes.snp.host_data";
  assert.match(
    refused(tx, "add_snp_host_data", { security_policy: policy, host_data: "00".repeat(32) }),
    /host_data is not the SHA-256 digest of security_policy/,
  );
  assert.equal(
    apply(tx, "add_snp_host_data", { security_policy: policy, host_data: digest }),
    undefined,
  );
  assert.equal(json(tx, table, digest), policy);
  // Without the policy, any host data is taken as it is.
  assert.equal(apply(tx, "add_snp_host_data", { security_policy: "", host_data: "ff" }), undefined);
  assert.equal(json(tx, table, "ff"), "");
  assert.equal(apply(tx, "remove_snp_host_data", { host_data: digest }), undefined);
  assert.equal(tx.get(table, utf8(digest)), undefined);

  const virtual = "public:ccf.gov.nodes.virtual.host_data";
  assert.match(refused(tx, "add_virtual_host_data", {}), /host_data must be of type string/);
  assert.equal(apply(tx, "add_virtual_host_data", { host_data: "cafe" }), undefined);
  assert.ok(tx.get(virtual, utf8("cafe")) !== undefined);
  assert.equal(apply(tx, "remove_virtual_host_data", { host_data: "cafe" }), undefined);
  assert.equal(tx.get(virtual, utf8("cafe")), undefined);
});

Deno.test("UVM endorsements and TCB versions: per DID feed, per upper-case CPUID", async () => {
  const tx = await fresh();
  const uvm = "public:ccf.gov.nodes.snp.uvm_endorsements";
  assert.match(refused(tx, "add_snp_uvm_endorsement", { did: "d", feed: "f" }), /svn must be/);
  assert.equal(
    apply(tx, "add_snp_uvm_endorsement", { did: "did:x", feed: "f1", svn: "1" }),
    undefined,
  );
  assert.equal(
    apply(tx, "add_snp_uvm_endorsement", { did: "did:x", feed: "f2", svn: "2" }),
    undefined,
  );
  assert.deepEqual(json(tx, uvm, "did:x"), { f1: { svn: "1" }, f2: { svn: "2" } });
  assert.equal(apply(tx, "remove_snp_uvm_endorsement", { did: "did:x", feed: "f1" }), undefined);
  assert.deepEqual(json(tx, uvm, "did:x"), { f2: { svn: "2" } });
  assert.equal(apply(tx, "remove_snp_uvm_endorsement", { did: "did:x", feed: "f2" }), undefined);
  assert.equal(tx.get(uvm, utf8("did:x")), undefined);

  const tcb = "public:ccf.gov.nodes.snp.tcb_versions";
  const version = { boot_loader: 3, tee: 0, snp: 8, microcode: 115 };
  assert.match(
    refused(tx, "add_snp_tcb_version", { cpuid: "00a00f1", tcb_version: version }),
    /cpuid must hold at least 8 items/,
  );
  assert.match(
    refused(tx, "add_snp_tcb_version", { cpuid: "00a00f11", tcb_version: { tee: 0 } }),
    /tcb_version.boot_loader must be of type number/,
  );
  assert.equal(
    apply(tx, "add_snp_tcb_version", { cpuid: "00a00f11", tcb_version: version }),
    undefined,
  );
  assert.deepEqual(json(tx, tcb, "00A00F11"), version);
  assert.equal(apply(tx, "remove_snp_tcb_version", { cpuid: "00a00f11" }), undefined);
  assert.equal(tx.get(tcb, utf8("00A00F11")), undefined);
  assert.match(apply(tx, "remove_snp_tcb_version", { cpuid: "00a00f11" })!, /CPUID not found/);
});

Deno.test("nodes: trusted, data, certificate validity and removal as CCF records them", async () => {
  const tx = await fresh();
  const node = (id: string) => json(tx, NODES_INFO, id);
  assert.match(
    refused(tx, "transition_node_to_trusted", { node_id: "abc", valid_from: "20250101000000Z" }),
    /node_id must be 64 hexadecimal characters/,
  );
  assert.match(
    refused(tx, "transition_node_to_trusted", { node_id: NODE_PENDING }),
    /valid_from must be of type string/,
  );
  const from = { valid_from: "20250101000000Z" };
  assert.match(
    apply(tx, "transition_node_to_trusted", {
      node_id: NODE_PENDING,
      ...from,
      validity_period_days: 366,
    })!,
    /Validity period 366 \(days\) is not allowed: service max allowed is 365/,
  );
  assert.equal(
    apply(tx, "transition_node_to_trusted", { node_id: NODE_PENDING, ...from }),
    undefined,
  );
  assert.equal(node(NODE_PENDING).status, "Trusted");
  assert.equal(node(NODE_PENDING).ledger_secret_seqno, 1);
  assert.match(
    apply(tx, "transition_node_to_trusted", { node_id: "c".repeat(64), ...from })!,
    /No such node/,
  );

  assert.equal(
    apply(tx, "set_node_data", { node_id: NODE_TRUSTED, node_data: { rack: 4 } }),
    undefined,
  );
  assert.deepEqual(node(NODE_TRUSTED).node_data, { rack: 4 });
  assert.match(apply(tx, "set_node_data", { node_id: "c".repeat(64) })!, /does not exist/);

  assert.match(
    refused(tx, "set_node_certificate_validity", {
      node_id: NODE_TRUSTED,
      ...from,
      validity_period_days: 0,
    }),
    /validity_period_days must be at least 1/,
  );
  assert.equal(
    apply(tx, "set_node_certificate_validity", { node_id: NODE_TRUSTED, ...from }),
    undefined,
  );
  assert.match(
    apply(tx, "set_all_nodes_certificate_validity", { ...from, validity_period_days: 400 })!,
    /not allowed/,
  );
  assert.equal(apply(tx, "set_all_nodes_certificate_validity", from), undefined);
  assert.match(refused(tx, "set_all_nodes_certificate_validity", {}), /valid_from must be/);

  assert.equal(apply(tx, "remove_node", { node_id: NODE_TRUSTED }), undefined);
  assert.equal(node(NODE_TRUSTED).status, "Retired");
  assert.match(
    apply(tx, "set_node_certificate_validity", { node_id: NODE_TRUSTED, ...from })!,
    /is not trusted/,
  );
  tx.set(NODES_INFO, utf8(NODE_PENDING), utf8(JSON.stringify({ status: "Pending" })));
  assert.equal(apply(tx, "remove_node", { node_id: NODE_PENDING }), undefined);
  assert.equal(node(NODE_PENDING), undefined);
  assert.equal(apply(tx, "remove_node", { node_id: NODE_PENDING }), undefined);
});
