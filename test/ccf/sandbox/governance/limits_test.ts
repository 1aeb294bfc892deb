import assert from "node:assert/strict";
import { nestsDeeperThan } from "../../../../ccf/sandbox/governance/limits.ts";

Deno.test("limits: nesting counts arrays and objects, not brackets inside strings", () => {
  assert.equal(nestsDeeperThan('{"a":[{"b":[]}]}', 4), false);
  assert.equal(nestsDeeperThan('{"a":[{"b":[]}]}', 3), true);
  assert.equal(nestsDeeperThan('{"a":"[[[[{{{{"}', 1), false);
  assert.equal(nestsDeeperThan('{"a":"\\"[[[[","b":[]}', 1), true);
  assert.equal(nestsDeeperThan('{"a":"\\\\","b":"[[["}', 1), false);
  assert.equal(nestsDeeperThan("[".repeat(1_000_000), 64), true);
});
