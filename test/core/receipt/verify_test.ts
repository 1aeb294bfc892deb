import assert from "node:assert/strict";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { hexToBytes } from "@noble/hashes/utils.js";
import { base64 } from "@scure/base";
import { toHex, utf8 } from "../../../core/bytes.ts";
import type { ReceiptCheck } from "../../../core/errors.ts";
import type { LeafComponents, ReceiptJson } from "../../../core/receipt/receipt.ts";
import {
  type ExpectedClaim,
  type ReceiptCrypto,
  verifyReceipt,
} from "../../../core/receipt/verify.ts";
import { denoReceiptCrypto } from "../../../client/receiptCrypto.ts";
import {
  createReceiptIssuer,
  leafFor,
  mintReceipt,
  mintTreeReceipts,
} from "../../fixtures/receipts.ts";

const issuer = await createReceiptIssuer();
const otherService = await createReceiptIssuer();
const claim = utf8("01001104fd3fc0b8ef83");
const expected: ExpectedClaim = { claim };
const proof = [
  { side: "left" as const, hash: sha256(utf8("sibling 1")) },
  { side: "right" as const, hash: sha256(utf8("sibling 2")) },
];
const receipt = mintReceipt(issuer, leafFor(claim), proof);

const verify = (
  r: unknown,
  options: { serviceCertPem?: string; expected?: ExpectedClaim; crypto?: ReceiptCrypto } = {},
) =>
  verifyReceipt(options.crypto ?? denoReceiptCrypto, {
    receipt: r,
    serviceCertPem: options.serviceCertPem ?? issuer.serviceCertPem,
    expected: options.expected ?? expected,
  });

const rejectedBy = (r: unknown, options: Parameters<typeof verify>[1] = {}): ReceiptCheck => {
  const result = verify(r, options);
  assert.ok(E.isLeft(result), "expected the receipt to be rejected");
  assert.equal(result.left._tag, "InvalidReceipt");
  return result.left._tag === "InvalidReceipt" ? result.left.check : "format";
};

const withLeaf = (over: Partial<ReceiptJson["leaf_components"]>): ReceiptJson => ({
  ...receipt,
  leaf_components: { ...receipt.leaf_components, ...over },
});

/** Every variant of `bytes` with exactly one bit flipped. */
const bitFlips = (bytes: Uint8Array): Uint8Array[] =>
  Array.from({ length: bytes.length * 8 }, (_, bit) => {
    const out = bytes.slice();
    out[bit >> 3] ^= 1 << (bit & 7);
    return out;
  });

const flipsOfHex = (hex: string): string[] => bitFlips(hexToBytes(hex)).map(toHex);

const derOfPem = (pem: string): Uint8Array =>
  base64.decode(pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""));

const pemOfDer = (der: Uint8Array): string =>
  `-----BEGIN CERTIFICATE-----\n${
    base64.encode(der).replace(/(.{64})/g, "$1\n")
  }\n-----END CERTIFICATE-----\n`;

const checksOf = (
  variants: readonly unknown[],
  crypto: ReceiptCrypto = denoReceiptCrypto,
): Set<ReceiptCheck> => new Set(variants.map((v) => rejectedBy(v, { crypto })));

// Flips outside the certificate leave its endorsement unchanged; remembering that one answer
// halves the run time while every signature is still checked for real.
const withRememberedEndorsement = (): ReceiptCrypto => {
  const answers = new Map<string, boolean>();
  return {
    verifyEndorsement: (cert, issuerPem) => {
      const key = `${cert}\n${issuerPem}`;
      const answer = answers.get(key) ?? denoReceiptCrypto.verifyEndorsement(cert, issuerPem);
      answers.set(key, answer);
      return answer;
    },
    verifyDigestSignature: denoReceiptCrypto.verifyDigestSignature,
  };
};

Deno.test("a receipt signed by an endorsed node verifies, as an object and as JSON text", () => {
  for (const r of [receipt, JSON.stringify(receipt)]) {
    const v = verify(r);
    assert.ok(E.isRight(v), JSON.stringify(E.isLeft(v) && v.left));
    assert.deepEqual(v.right.claimsDigest, sha256(claim));
    assert.equal(v.right.receipt.cert, issuer.nodeCertPem);
    assert.equal(v.right.receipt.proof.length, 2);
  }
});

Deno.test("the expected claim may be given as its digest", () => {
  assert.ok(E.isRight(verify(receipt, { expected: { claimsDigest: sha256(claim) } })));
  assert.equal(
    rejectedBy(receipt, { expected: { claimsDigest: sha256(utf8("other")) } }),
    "claims_digest",
  );
});

Deno.test("every single-bit flip of the signature is rejected by the signature check", () => {
  const der = base64.decode(receipt.signature);
  const variants = bitFlips(der).map((s) => ({ ...receipt, signature: base64.encode(s) }));
  assert.deepEqual(checksOf(variants, withRememberedEndorsement()), new Set(["signature"]));
});

Deno.test("every single-bit flip of each proof hash is rejected by the signature check", () => {
  const variants = receipt.proof.flatMap((step, i) => {
    const [side, hash] = Object.entries(step)[0];
    return flipsOfHex(hash).map((h) => ({
      ...receipt,
      proof: receipt.proof.map((s, j) => j === i ? { [side]: h } : s),
    }));
  });
  assert.equal(variants.length, 2 * 256);
  assert.deepEqual(checksOf(variants, withRememberedEndorsement()), new Set(["signature"]));
});

Deno.test("every single-bit flip of a leaf component is rejected by the signature check", () => {
  const lc = receipt.leaf_components;
  const evidence = utf8(lc.commit_evidence);
  const variants = [
    ...flipsOfHex(lc.write_set_digest).map((h) => withLeaf({ write_set_digest: h })),
    ...flipsOfHex(lc.claims_digest ?? "").map((h) => withLeaf({ claims_digest: h })),
    ...bitFlips(evidence).map((b) => withLeaf({ commit_evidence: String.fromCharCode(...b) })),
  ];
  assert.equal(variants.length, 2 * 256 + evidence.length * 8);
  assert.deepEqual(checksOf(variants, withRememberedEndorsement()), new Set(["signature"]));
});

Deno.test("every single-bit flip of the node certificate is rejected by the endorsement check", () => {
  const der = derOfPem(receipt.cert);
  const variants = bitFlips(der).map((d) => ({ ...receipt, cert: pemOfDer(d) }));
  assert.deepEqual(checksOf(variants), new Set(["endorsement"]));
});

Deno.test("a receipt checked against another service's certificate fails endorsement", () => {
  assert.equal(
    rejectedBy(receipt, { serviceCertPem: otherService.serviceCertPem }),
    "endorsement",
  );
  const foreign = mintReceipt(otherService, leafFor(claim), proof);
  assert.equal(rejectedBy(foreign), "endorsement");
});

Deno.test("a genuine receipt for another claim fails the claims digest check", () => {
  assert.equal(rejectedBy(receipt, { expected: { claim: utf8("another key") } }), "claims_digest");
  const other = mintReceipt(issuer, leafFor(utf8("another key")), proof);
  assert.equal(rejectedBy(other), "claims_digest");
});

Deno.test("a genuine receipt without a claims digest fails the claims digest check", () => {
  const bare = mintReceipt(issuer, leafFor(undefined), proof);
  assert.equal(bare.leaf_components.claims_digest, undefined);
  const result = verify(bare);
  assert.ok(E.isLeft(result) && result.left._tag === "InvalidReceipt");
  assert.equal(result.left.check, "claims_digest");
  assert.match(result.left.message, /no claims digest/);
});

Deno.test("malformed receipts fail the format check", () => {
  const h = receipt.leaf_components.write_set_digest;
  const cases: unknown[] = [
    undefined,
    42,
    "not json",
    JSON.stringify(receipt).slice(0, -1),
    { ...receipt, proof: [{ left: h, right: h }] },
    { ...receipt, proof: [{ middle: h }] },
    { ...receipt, signature: "***" },
    withLeaf({ write_set_digest: "00" }),
    { ...receipt, cert: undefined },
  ];
  assert.deepEqual(checksOf(cases), new Set(["format"]));
});

Deno.test("a certificate that is not PEM fails endorsement with a reason", () => {
  const result = verify({ ...receipt, cert: "garbage" });
  assert.ok(E.isLeft(result) && result.left._tag === "InvalidReceipt");
  assert.equal(result.left.check, "endorsement");
  assert.match(result.left.message, /PEM "CERTIFICATE" block/);
});

Deno.test("whatever the capability throws or returns besides true becomes a Left", () => {
  const throwing = (value: unknown): ReceiptCrypto => ({
    verifyEndorsement: () => {
      throw value;
    },
    verifyDigestSignature: () => true,
  });
  for (const value of [new Error("no parser"), "string", null, undefined, {}]) {
    assert.equal(rejectedBy(receipt, { crypto: throwing(value) }), "endorsement");
  }
  const truthy = (v: unknown) => ({
    verifyEndorsement: () => true,
    verifyDigestSignature: () => v as boolean,
  });
  for (const value of [1, "true", {}, [], undefined]) {
    assert.equal(rejectedBy(receipt, { crypto: truthy(value) }), "signature");
  }
  const failsSignature: ReceiptCrypto = {
    verifyEndorsement: () => true,
    verifyDigestSignature: () => {
      throw new Error("bad DER");
    },
  };
  const result = verify(receipt, { crypto: failsSignature });
  assert.ok(E.isLeft(result) && result.left._tag === "InvalidReceipt");
  assert.equal(result.left.check, "signature");
  assert.match(result.left.message, /bad DER/);
});

Deno.test("the capability receives the node certificate, the service certificate and the root", () => {
  const seen: unknown[] = [];
  const recording: ReceiptCrypto = {
    verifyEndorsement: (cert, issuerPem) => (seen.push(cert, issuerPem), true),
    verifyDigestSignature: (cert, digest, sig) => (seen.push(cert, toHex(digest), sig), true),
  };
  const v = verify(receipt, { crypto: recording });
  assert.ok(E.isRight(v));
  assert.deepEqual(seen, [
    issuer.nodeCertPem,
    issuer.serviceCertPem,
    issuer.nodeCertPem,
    toHex(v.right.root),
    base64.decode(receipt.signature),
  ]);
});

const leafExample = {
  claim: claim,
  writeSetDigest: new Uint8Array(32),
  commitEvidence: "ce:2.1:00",
};

const claimedLeaf = fc.record({
  claim: fc.uint8Array({ maxLength: 40 }),
  writeSetDigest: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  commitEvidence: fc.string({ unit: "binary", maxLength: 80 }),
});

Deno.test("property: in a random Merkle tree every leaf's receipt verifies to the tree's root", () => {
  fc.assert(
    fc.property(fc.array(claimedLeaf, { minLength: 1, maxLength: 64, size: "max" }), (leaves) => {
      const components: LeafComponents[] = leaves.map((l) => ({
        writeSetDigest: l.writeSetDigest,
        commitEvidence: l.commitEvidence,
        claimsDigest: sha256(l.claim),
      }));
      const { root, receipts } = mintTreeReceipts(issuer, components);
      receipts.forEach((r, i) => {
        const v = verify(r, { expected: { claim: leaves[i].claim } });
        assert.ok(E.isRight(v), `leaf ${i} of ${leaves.length}`);
        assert.deepEqual(v.right.root, root);
        assert.ok(r.proof.length <= Math.ceil(Math.log2(leaves.length)));
      });
    }),
    { numRuns: 8, examples: [[Array(64).fill(leafExample)], [[leafExample]]] },
  );
});
