import assert from "node:assert/strict";
import { appendKmsActions, kmsBlockBegin, kmsBlockEnd } from "../../../scripts/kms/constitution.ts";

const base = "export function validate(input) { return { valid: true } }\n" +
  "export function apply(proposal, id) {}\n";
const actions = '(()=>{actions.set("set_key_release_policy",new Action(a=>{},a=>{}))})();\n';

Deno.test("constitution: the KMS actions are appended after the constitution, between markers", () => {
  const outcome = appendKmsActions(base, actions);
  assert.equal(outcome.kind, "appended");
  if (outcome.kind !== "appended") return;
  assert.equal(
    outcome.constitution,
    `${base}\n${kmsBlockBegin}\n${actions.trim()}\n${kmsBlockEnd}\n`,
  );
  assert.ok(outcome.constitution.startsWith(base));
});

Deno.test("constitution: appending is idempotent, also for actions appended without markers", () => {
  const once = appendKmsActions(base, actions);
  assert.ok(once.kind === "appended");
  assert.deepEqual(appendKmsActions(once.constitution, actions), { kind: "present" });
  assert.deepEqual(appendKmsActions(once.constitution, `\n${actions}\n\n`), { kind: "present" });
  // The seed's scripts append the actions as they are.
  assert.deepEqual(appendKmsActions(base + actions, actions), { kind: "present" });
});

Deno.test("constitution: a block from another build is replaced, keeping what follows it", () => {
  const old = appendKmsActions(base, "(()=>{/* old */})();");
  assert.ok(old.kind === "appended");
  const tail = "// appended later by someone else\n";
  const replaced = appendKmsActions(old.constitution + tail, actions);
  assert.equal(replaced.kind, "replaced");
  if (replaced.kind !== "replaced") return;
  assert.equal(
    replaced.constitution,
    `${base}\n${kmsBlockBegin}\n${actions.trim()}\n${kmsBlockEnd}\n${tail}`,
  );
  assert.ok(!replaced.constitution.includes("old"));
  assert.deepEqual(appendKmsActions(replaced.constitution, actions), { kind: "present" });
});

Deno.test("constitution: a constitution without a final newline is separated by a blank line", () => {
  const outcome = appendKmsActions("export function apply() {}", actions);
  assert.ok(outcome.kind === "appended");
  assert.ok(outcome.constitution.startsWith(`export function apply() {}\n\n${kmsBlockBegin}\n`));
  assert.throws(() => appendKmsActions(base, "  \n"), /empty/);
});
