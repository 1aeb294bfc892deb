import assert from "node:assert/strict";
import { parseArgs } from "../../../scripts/kms/args.ts";
import {
  commandHelp,
  commands,
  optionsOf,
  parseCommandLine,
  wrap,
} from "../../../scripts/kms/commands.ts";
import { UsageError } from "../../../scripts/kms/errors.ts";
import { runCli } from "./_harness.ts";

const specs = {
  url: { type: "string", value: "URL", description: "" },
  json: { type: "boolean", description: "" },
  help: { type: "boolean", short: "h", description: "" },
} as const;

Deno.test("args: long options with a space or =, flags, aliases, -- and - as positionals", () => {
  const parsed = parseArgs(
    ["a", "--url", "https://x", "-", "--json", "-h", "--", "--url", "b"],
    specs,
  );
  assert.deepEqual(parsed.positionals, ["a", "-", "--url", "b"]);
  assert.deepEqual(parsed.options, { url: "https://x", json: true, help: true });
  assert.deepEqual(parseArgs(["--url=https://y=z"], specs).options, { url: "https://y=z" });
});

Deno.test("args: unknown options (with a suggestion), missing values, flag values and repeats fail", () => {
  const fails = (args: string[], message: RegExp) =>
    assert.throws(() => parseArgs(args, specs, "keys"), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.equal(e.command, "keys");
      assert.match(e.message, message);
      return true;
    });
  fails(["--ur", "x"], /unknown option --ur \(did you mean --url\?\)/);
  fails(["--zzzzzzzz"], /^unknown option --zzzzzzzz$/);
  fails(["-x"], /unknown option -x/);
  fails(["--url"], /--url needs a value \(URL\)/);
  fails(["--url", "--json"], /--url needs a value/);
  fails(["--json=yes"], /--json is a flag and takes no value/);
  fails(["--url", "a", "--url", "b"], /--url is given more than once/);
  fails(
    ["--url", "-5"],
    /--url needs a value \(URL\); one that starts with - is given as --url=VALUE/,
  );
  assert.deepEqual(parseArgs(["--url=-5"], specs).options, { url: "-5" });
});

Deno.test("command line: the command may follow global options; help in every form", () => {
  const run = parseCommandLine(["--url", "https://h:1", "vote", "abc", "--reject"]);
  assert.equal(run.kind, "run");
  if (run.kind === "run") {
    assert.equal(run.command.name, "vote");
    assert.deepEqual(run.args.positionals, ["abc"]);
    assert.deepEqual(run.args.options, { url: "https://h:1", reject: true });
  }
  assert.deepEqual(parseCommandLine([]), { kind: "help" });
  assert.deepEqual(parseCommandLine(["--help"]), { kind: "help" });
  const help = parseCommandLine(["help", "policy"]);
  assert.equal(help.kind === "help" && help.command?.name, "policy");
  const short = parseCommandLine(["keys", "-h"]);
  assert.equal(short.kind === "help" && short.command?.name, "keys");
});

Deno.test("command line: unknown commands, missing and extra arguments, foreign options fail", () => {
  const fails = (argv: string[], message: RegExp, command?: string) =>
    assert.throws(() => parseCommandLine(argv), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, message);
      assert.equal(e.command, command);
      return true;
    });
  fails(["frobnicate"], /unknown command frobnicate/);
  fails(["help", "frobnicate"], /unknown command frobnicate/);
  fails(["--url", "https://h"], /no command given/);
  fails(["vote"], /missing <id>/, "vote");
  fails(["policy", "add"], /missing <file>/, "policy");
  fails(["proposal", "a", "b"], /unexpected argument\(s\): b/, "proposal");
  // A token given without --token is not echoed whole.
  const token = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJlLXRoYXQtaXMtc2VjcmV0";
  fails(["key", token], /^unexpected argument\(s\): eyJhbGciOiJSUzI1…$/, "key");
  fails([token], /^unknown command eyJhbGciOiJSUzI1…$/);
  fails(["keys", "--reject"], /unknown option --reject/, "keys");
  fails(["withdraw", "x", "--vote-with", "1"], /unknown option --vote-with/, "withdraw");
  fails(["vote", "x", "--dry-run"], /unknown option --dry-run/, "vote");
});

Deno.test("every command has help naming its usage and each of its options, within 100 columns", async () => {
  assert.equal(commands.length, 16);
  for (const command of commands) {
    for (const argv of [[command.name, "--help"], ["help", command.name], [command.name, "-h"]]) {
      const run = await runCli(argv);
      assert.equal(run.code, 0, argv.join(" "));
      assert.equal(run.stdout, commandHelp(command));
      assert.equal(run.stderr, "");
    }
    const help = commandHelp(command);
    assert.match(help, new RegExp(`^Usage: deno task kms ${command.name}`));
    for (const option of Object.keys(optionsOf(command))) {
      assert.ok(help.includes(`--${option}`), `${command.name} --help names --${option}`);
    }
    for (const line of help.split("\n")) assert.ok(line.length <= 100, line);
  }
  const overview = await runCli(["--help"]);
  assert.equal(overview.code, 0);
  for (const command of commands) {
    assert.match(overview.stdout, new RegExp(`\\n  ${command.name} `));
  }
});

Deno.test("only proposing commands take --vote-with and --dry-run", () => {
  const proposing = [
    "deploy",
    "constitution",
    "propose",
    "trust-issuer",
    "policy",
    "settings",
    "rotation",
  ];
  for (const command of commands) {
    const options = optionsOf(command);
    assert.equal("dry-run" in options, proposing.includes(command.name), command.name);
    assert.equal(
      "vote-with" in options,
      proposing.includes(command.name) || command.name === "vote",
      command.name,
    );
  }
});

Deno.test("usage errors exit 2 and point at the command's help; no command prints the overview", async () => {
  const run = await runCli(["policy", "replace", "f.json"]);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /error: the first argument must be add or remove, not replace/);
  assert.match(run.stderr, /see: deno task kms policy --help/);
  const unknown = await runCli(["nope"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /see: deno task kms --help/);
  const constitution = await runCli(["constitution", "--build"]);
  assert.equal(constitution.code, 2);
  assert.match(constitution.stderr, /--build only go with --add-kms-actions/);
  const none = await runCli([]);
  assert.equal(none.code, 0);
  assert.match(none.stdout, /^Usage: deno task kms <command>/);
});

Deno.test("help text wraps at word boundaries", () => {
  assert.deepEqual(wrap("aaa bbb ccc", 7), ["aaa bbb", "ccc"]);
  assert.deepEqual(wrap("aaa bbb", 6, "  "), ["  aaa", "  bbb"]);
});
