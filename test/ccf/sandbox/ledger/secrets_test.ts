import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import {
  createSecretFile,
  ledgerSecret,
  newLedgerSecret,
  readSecretFile,
} from "../../../../ccf/sandbox/ledger/secrets.ts";

const secret = ledgerSecret(newLedgerSecret());

Deno.test("secrets: sealed private writes open only for their own transaction", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 200 }),
      fc.nat({ max: 1000 }),
      fc.integer({ min: 1, max: 1_000_000 }),
      (plain, view, seqno) => {
        const sealed = secret.seal(plain, view, seqno);
        assert.deepEqual(secret.open(sealed, view, seqno), plain);
        assert.throws(() => secret.open(sealed, view, seqno + 1));
        assert.throws(() => secret.open(sealed, view + 1, seqno));
        const flipped = sealed.slice();
        flipped[sealed.length >> 1] ^= 1;
        assert.throws(() => secret.open(flipped, view, seqno));
        assert.throws(() => ledgerSecret(newLedgerSecret()).open(sealed, view, seqno));
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("secrets: each seal uses a fresh nonce", () => {
  const plain = new TextEncoder().encode("same plaintext");
  assert.notDeepEqual(secret.seal(plain, 2, 5), secret.seal(plain, 2, 5));
  assert.throws(() => secret.open(new Uint8Array(27), 2, 5), /too short/);
});

Deno.test("secrets: commit evidence has CCF's form and depends on secret and seqno", () => {
  const key = new Uint8Array(32).fill(1);
  const a = ledgerSecret(key);
  const b = ledgerSecret(key.slice());
  assert.match(a.commitEvidence(2, 17), /^ce:2\.17:[0-9a-f]{64}$/);
  assert.equal(a.commitEvidence(2, 17), b.commitEvidence(2, 17));
  assert.notEqual(a.commitEvidence(2, 17), a.commitEvidence(2, 18));
  assert.notEqual(a.commitEvidence(2, 17), secret.commitEvidence(2, 17));
  assert.throws(() => ledgerSecret(new Uint8Array(16)), RangeError);
});

Deno.test("secrets: the secret file is created once, private, and read back", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = join(dir, "ledger.secret");
    const created = createSecretFile(path);
    assert.deepEqual(readSecretFile(path), created);
    assert.throws(() => createSecretFile(path), Deno.errors.AlreadyExists);
    if (Deno.build.os !== "windows") assert.equal(Deno.statSync(path).mode! & 0o777, 0o600);
    Deno.writeTextFileSync(path, '{"version":1,"ledger_secret":"AAAA"}');
    assert.throws(() => readSecretFile(path), /not a version 1 ledger secret file/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
