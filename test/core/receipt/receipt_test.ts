import assert from "node:assert/strict";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { concat, toHex, utf8 } from "../../../core/bytes.ts";
import {
  decodeReceipt,
  hashNodes,
  type LeafComponents,
  leafOf,
  MAX_PROOF_LENGTH,
  MAX_RECEIPT_JSON_LENGTH,
  type ProofStep,
  type Receipt,
  ReceiptCodec,
  rootOf,
  rootPreimage,
} from "../../../core/receipt/receipt.ts";

// From the OHTTP peers' interop vectors.
const VECTOR = {
  writeSetDigest: "6d9ab6913c275298e777c41a8b6e6f920c28fc3ca9d163895b4e64a19e522fa5",
  commitEvidence: "ce:2.35:020b101525a112b38788911f4e93d54e4fd28764810f94e6458b276d0f1e2ba2",
  claimsDigest: "7bfd053101e62c207e4f12a70aa733102c2f62e50dd8d48c64577a3a359cffcb",
  leaf: "3be90f09605404ebddb3950b9de1d6be461100b030b11fc48b69e5eee40ca374",
  proof: [
    { left: "d8620543d3408ee8d0c15997d228472afb2f77f6022eb2a70d05ee95822c71cb" },
    { right: "449026e93c5f95477304349e63c5e9706780a07de889b07ac162cf017106a493" },
  ],
  root: "7bfdf517dbdf0864a553b08af0dde71c49cc67773c15f0eaf091d5e5a3a8a022",
};

const PEM = "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n";

const vectorJson = (overrides: Record<string, unknown> = {}) => ({
  signature: "MAYCAQECAQE=",
  cert: PEM,
  node_id: "ab01",
  is_signature_transaction: false,
  leaf_components: {
    write_set_digest: VECTOR.writeSetDigest,
    commit_evidence: VECTOR.commitEvidence,
    claims_digest: VECTOR.claimsDigest,
  },
  proof: VECTOR.proof,
  ...overrides,
});

const decoded = (u: unknown): Receipt => {
  const r = decodeReceipt(u);
  assert.ok(E.isRight(r), JSON.stringify(r));
  return r.right;
};

const formatMessage = (u: unknown): string => {
  const r = decodeReceipt(u);
  assert.ok(E.isLeft(r), "expected a format error");
  assert.equal(r.left._tag, "InvalidReceipt");
  assert.ok(r.left._tag === "InvalidReceipt" && r.left.check === "format");
  return r.left.message;
};

Deno.test("the leaf and root of the interop vector are the ones the peers' vectors give", () => {
  assert.equal(VECTOR.writeSetDigest, toHex(sha256(utf8("write-set"))));
  const r = decoded(vectorJson());
  const leaf = leafOf(r.leafComponents);
  assert.equal(toHex(leaf), VECTOR.leaf);
  assert.equal(toHex(rootOf(leaf, r.proof)), VECTOR.root);
});

Deno.test("without a claims digest the leaf hashes two components only", () => {
  const r = decoded(vectorJson({
    leaf_components: {
      write_set_digest: VECTOR.writeSetDigest,
      commit_evidence: VECTOR.commitEvidence,
    },
  }));
  assert.equal(r.leafComponents.claimsDigest, undefined);
  const expected = sha256(concat(
    r.leafComponents.writeSetDigest,
    sha256(utf8(VECTOR.commitEvidence)),
  ));
  assert.equal(toHex(leafOf(r.leafComponents)), toHex(expected));
  assert.notEqual(toHex(expected), VECTOR.leaf);
});

Deno.test("the proof walk puts left siblings first and right siblings second", () => {
  const h = sha256(utf8("h"));
  const s = sha256(utf8("s"));
  assert.deepEqual(rootOf(h, [{ side: "left", hash: s }]), sha256(concat(s, h)));
  assert.deepEqual(rootOf(h, [{ side: "right", hash: s }]), sha256(concat(h, s)));
  assert.deepEqual(hashNodes(s, h), sha256(concat(s, h)));
});

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const proofStep: fc.Arbitrary<ProofStep> = fc.record({
  side: fc.constantFrom("left" as const, "right" as const),
  hash: bytes32,
}, { noNullPrototype: true });
const proof = fc.array(proofStep, { maxLength: MAX_PROOF_LENGTH });
const leafComponents: fc.Arbitrary<LeafComponents> = fc.record(
  {
    writeSetDigest: bytes32,
    commitEvidence: fc.string({ unit: "binary", maxLength: 200 }),
    claimsDigest: bytes32,
  },
  { requiredKeys: ["writeSetDigest", "commitEvidence"], noNullPrototype: true },
);
const receipt: fc.Arbitrary<Receipt> = fc.record(
  {
    signature: fc.uint8Array({ minLength: 8, maxLength: 139 }),
    cert: fc.constant(PEM),
    nodeId: fc.uint8Array({ maxLength: 32 }).map(toHex),
    isSignatureTransaction: fc.boolean(),
    leafComponents,
    proof,
  },
  {
    requiredKeys: ["signature", "cert", "leafComponents", "proof"],
    noNullPrototype: true,
  },
);

Deno.test("property: the root of a concatenated proof is the walk of its parts", () => {
  fc.assert(fc.property(bytes32, proof, proof, (leaf, p, q) => {
    assert.deepEqual(rootOf(leaf, [...p, ...q]), rootOf(rootOf(leaf, p), q));
    assert.deepEqual(rootOf(leaf, []), leaf);
  }));
});

Deno.test("property: encoding then decoding a receipt, as object or JSON text, is the identity", () => {
  fc.assert(fc.property(receipt, (r) => {
    const json = ReceiptCodec.encode(r);
    assert.ok(ReceiptCodec.is(r));
    assert.deepEqual(decoded(json), r);
    assert.deepEqual(decoded(JSON.stringify(json)), r);
  }));
});

Deno.test("ReceiptCodec.is answers false, without throwing, for anything but a decoded receipt", () => {
  for (const u of [null, 7, "r", {}, { leafComponents: null }, { leafComponents: 1 }, []]) {
    assert.equal(ReceiptCodec.is(u), false);
  }
});

const flipBit = (bytes: Uint8Array, bit: number): Uint8Array => {
  const out = bytes.slice();
  out[bit >> 3] ^= 1 << (bit & 7);
  return out;
};

Deno.test("property: changing any one leaf component changes the leaf", () => {
  fc.assert(fc.property(leafComponents, fc.nat(255), (a, bit) => {
    const changed: LeafComponents[] = [
      { ...a, writeSetDigest: flipBit(a.writeSetDigest, bit) },
      { ...a, commitEvidence: `${a.commitEvidence}.` },
      { ...a, claimsDigest: flipBit(a.claimsDigest ?? new Uint8Array(32), bit) },
      a.claimsDigest === undefined ? { ...a, claimsDigest: new Uint8Array(32) } : {
        writeSetDigest: a.writeSetDigest,
        commitEvidence: a.commitEvidence,
      },
    ];
    for (const b of changed) assert.notDeepEqual(leafOf(b), leafOf(a));
  }));
});

Deno.test("extra fields are tolerated and uppercase hex is read as bytes", () => {
  const r = decoded(vectorJson({
    service_endorsements: ["-----BEGIN CERTIFICATE-----"],
    leaf_components: {
      write_set_digest: VECTOR.writeSetDigest.toUpperCase(),
      commit_evidence: VECTOR.commitEvidence,
      claims_digest: VECTOR.claimsDigest,
      future_field: 1,
    },
  }));
  assert.equal(toHex(leafOf(r.leafComponents)), VECTOR.leaf);
  assert.equal(r.nodeId, "ab01");
  assert.equal(r.isSignatureTransaction, false);
  assert.deepEqual([...r.signature], [0x30, 6, 2, 1, 1, 2, 1, 1]);
});

Deno.test("a proof step with both left and right, or neither, is a format error", () => {
  const h = VECTOR.root;
  assert.match(
    formatMessage(vectorJson({ proof: [{ left: h, right: h }] })),
    /proof\.0: a proof step must have exactly one of left or right/,
  );
  assert.match(formatMessage(vectorJson({ proof: [{}] })), /exactly one of left or right/);
  assert.match(formatMessage(vectorJson({ proof: [{ left: h }, null] })), /proof\.1/);
});

Deno.test("the proof length is bounded", () => {
  const step = { right: VECTOR.root };
  assert.ok(E.isRight(decodeReceipt(vectorJson({ proof: Array(MAX_PROOF_LENGTH).fill(step) }))));
  assert.match(
    formatMessage(vectorJson({ proof: Array(MAX_PROOF_LENGTH + 1).fill(step) })),
    /proof: expected an array of at most 64 proof steps/,
  );
});

Deno.test("malformed receipts are format errors that name the field", () => {
  const leaf = (over: Record<string, unknown>) => ({
    leaf_components: {
      write_set_digest: VECTOR.writeSetDigest,
      commit_evidence: VECTOR.commitEvidence,
      ...over,
    },
  });
  const cases: [unknown, RegExp][] = [
    [null, /^receipt: expected a JSON object/],
    [[], /^receipt: expected a JSON object/],
    ["", /not valid JSON/],
    ["{", /not valid JSON/],
    ["x".repeat(MAX_RECEIPT_JSON_LENGTH + 1), /longer than/],
    [vectorJson({ signature: undefined }), /field signature/],
    [vectorJson({ signature: "not base64!" }), /field signature: expected base64/],
    [vectorJson({ signature: "A".repeat(260) }), /field signature/],
    [vectorJson({ cert: 1 }), /field cert/],
    [vectorJson({ cert: "x".repeat(16385) }), /field cert/],
    [vectorJson({ node_id: "xyz" }), /field node_id/],
    [vectorJson({ is_signature_transaction: "no" }), /field is_signature_transaction/],
    [vectorJson({ proof: {} }), /field proof/],
    [vectorJson({ proof: [{ left: "00" }] }), /field proof\.0\.left: expected 64 hex/],
    [vectorJson({ leaf_components: undefined }), /field leaf_components/],
    [vectorJson(leaf({ write_set_digest: "g".repeat(64) })), /write_set_digest/],
    [vectorJson(leaf({ write_set_digest: VECTOR.root + "00" })), /write_set_digest/],
    [vectorJson(leaf({ claims_digest: 7 })), /claims_digest/],
    [vectorJson(leaf({ commit_evidence: "ce:\ud800" })), /commit_evidence/],
    [vectorJson(leaf({ commit_evidence: "c".repeat(1025) })), /commit_evidence/],
  ];
  for (const [input, message] of cases) assert.match(formatMessage(input), message);
});

Deno.test("a hostile object whose getter throws is a format error, not an exception", () => {
  const hostile = vectorJson();
  Object.defineProperty(hostile, "proof", {
    get: () => {
      throw new Error("boom");
    },
  });
  assert.match(formatMessage(hostile), /CCF's receipt shape/);
});

Deno.test("rootPreimage hashes to the root, with and without a proof", () => {
  const c = {
    writeSetDigest: new Uint8Array(32).fill(1),
    commitEvidence: "ce:2.3:" + "ab".repeat(32),
    claimsDigest: new Uint8Array(32).fill(2),
  };
  const leaf = leafOf(c);
  assert.deepEqual(sha256(rootPreimage(c, [])), leaf);
  const proof = [
    { side: "left" as const, hash: new Uint8Array(32).fill(3) },
    { side: "right" as const, hash: new Uint8Array(32).fill(4) },
  ];
  assert.deepEqual(sha256(rootPreimage(c, proof)), rootOf(leaf, proof));
  assert.deepEqual(sha256(rootPreimage(c, proof.slice(0, 1))), rootOf(leaf, proof.slice(0, 1)));
});
