import assert from "node:assert/strict";
import { join } from "node:path";
import { openLogFile } from "../../../../ccf/sandbox/node/logFile.ts";

const lines = (path: string) => Deno.readTextFileSync(path).split("\n").filter(Boolean);

Deno.test("the log rotates at its size bound, keeps the newest lines and deletes the oldest file", () => {
  const dir = Deno.makeTempDirSync();
  const path = join(dir, "out");
  // Each line is 10 bytes with its newline; 30 bytes hold three.
  const log = openLogFile({ path, maxBytes: 30, keep: 2 });
  for (let i = 0; i < 11; i++) log.write(`line ${String(i).padStart(4, "0")}`);
  log.close();

  assert.deepEqual(lines(path), ["line 0009", "line 0010"]);
  assert.deepEqual(lines(`${path}.1`), ["line 0006", "line 0007", "line 0008"]);
  assert.deepEqual(lines(`${path}.2`), ["line 0003", "line 0004", "line 0005"]);
  assert.throws(() => Deno.statSync(`${path}.3`), Deno.errors.NotFound);
  for (const file of [path, `${path}.1`, `${path}.2`]) assert.ok(Deno.statSync(file).size <= 30);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("reopening appends to the current file and counts its size", () => {
  const dir = Deno.makeTempDirSync();
  const path = join(dir, "out");
  const first = openLogFile({ path, maxBytes: 30, keep: 1 });
  first.write("line 0001");
  first.write("line 0002");
  first.close();
  const second = openLogFile({ path, maxBytes: 30, keep: 1 });
  second.write("line 0003");
  second.write("line 0004");
  second.close();

  assert.deepEqual(lines(`${path}.1`), ["line 0001", "line 0002", "line 0003"]);
  assert.deepEqual(lines(path), ["line 0004"]);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("a line longer than the bound is still written whole, alone in its file", () => {
  const dir = Deno.makeTempDirSync();
  const path = join(dir, "out");
  const log = openLogFile({ path, maxBytes: 10, keep: 1 });
  log.write("short");
  log.write("a line much longer than ten bytes");
  log.close();
  assert.deepEqual(lines(`${path}.1`), ["short"]);
  assert.deepEqual(lines(path), ["a line much longer than ten bytes"]);
  Deno.removeSync(dir, { recursive: true });
});
