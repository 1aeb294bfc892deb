/**
 * What `deno task kms` offers: every command's arguments, options and help text, as data. The
 * handlers live elsewhere (./cli.ts maps names to them), so parsing and help can be checked
 * without touching the network.
 */
import { type OptionSpecs, parseArgs, type ParsedArgs } from "./args.ts";
import { UsageError } from "./errors.ts";

/** A positional argument. */
export interface Positional {
  readonly name: string;
  readonly required: boolean;
}

/** One command of the CLI. */
export interface CommandSpec {
  readonly name: string;
  /** The arguments part of the usage line, e.g. `<id> [--reject]`. */
  readonly synopsis: string;
  readonly summary: string;
  /** Longer help: paragraphs and examples. */
  readonly details: string;
  readonly positionals: readonly Positional[];
  readonly options: OptionSpecs;
  /** Whether the command submits a proposal or ballots (and so takes `--vote-with`). */
  readonly votes: boolean;
  /** Whether the command builds a proposal (and so takes `--dry-run`). */
  readonly proposes: boolean;
}

/** Options every command accepts: where the service is and who the operator is. */
export const connectionOptions: OptionSpecs = {
  url: {
    type: "string",
    value: "URL",
    description: "the service root (default $KMS_URL, else https://127.0.0.1:8000)",
  },
  "service-cert": {
    type: "string",
    value: "FILE",
    description: "the service certificate, trusted as a TLS root besides the system's (default " +
      "$KMS_SERVICE_CERT_PATH, else <workspace>/sandbox_common/service_cert.pem)",
  },
  workspace: {
    type: "string",
    value: "DIR",
    description: "the sandbox workspace (default $KMS_WORKSPACE, else ./workspace)",
  },
  member: {
    type: "string",
    value: "N",
    description:
      "act as member N of the workspace: sandbox_common/member{N}_cert.pem and member{N}_privk.pem",
  },
  cert: {
    type: "string",
    value: "FILE",
    description:
      "the member certificate (default $KMS_MEMBER_CERT_PATH, else the workspace's member0)",
  },
  key: {
    type: "string",
    value: "FILE",
    description:
      "the member private key (default $KMS_MEMBER_PRIVK_PATH, else the workspace's member0)",
  },
  help: { type: "boolean", short: "h", description: "print this help" },
};

/** The options of the commands that submit proposals or ballots. */
export const voteOptions: OptionSpecs = {
  "vote-with": {
    type: "string",
    value: "LIST",
    description:
      "workspace members who vote, e.g. 0,1,2 (default: the proposing member only); voting " +
      "stops once the proposal is no longer open",
  },
};

/** The option of the commands that build a proposal: print it instead of submitting it. */
export const dryRunOptions: OptionSpecs = {
  "dry-run": {
    type: "boolean",
    description: "print the proposal that would be signed and submitted, and stop",
  },
};

const distOptions: OptionSpecs = {
  build: { type: "boolean", description: "run `deno task bundle` first, even if dist/ exists" },
  dist: { type: "string", value: "DIR", description: "the bundle directory (default ./dist)" },
};

const fileArg = (name = "file"): Positional => ({ name, required: true });

const spec = (
  s: Omit<CommandSpec, "options" | "votes" | "proposes" | "positionals"> & Partial<CommandSpec>,
): CommandSpec => ({
  options: {},
  votes: false,
  positionals: [],
  proposes: s.votes === true,
  ...s,
});

/** How `key` and `explain` take the attestation token, and the key id. */
const tokenOptions = {
  kid: { type: "string", value: "N", description: "the key id (default: the newest key)" },
  token: { type: "string", value: "T", description: "the attestation token (a JWT)" },
  "token-file": {
    type: "string",
    value: "FILE",
    description: "read the token from FILE (- for stdin)",
  },
} as const;

/** Every command, in the order the overview lists them. */
export const commands: readonly CommandSpec[] = [
  spec({
    name: "deploy",
    synopsis: "[--build] [--dist DIR]",
    summary: "propose set_js_app with the KMS bundle (dist/bundle.json)",
    details: "Builds the bundle first when dist/bundle.json is missing or with --build, then " +
      "proposes set_js_app and votes for it.",
    options: distOptions,
    votes: true,
  }),
  spec({
    name: "constitution",
    synopsis: "[--add-kms-actions [--build] [--dist DIR]]",
    summary: "print the constitution, or append the KMS actions to it",
    details: "Without options, prints the constitution in force.\n\n" +
      "With --add-kms-actions, fetches it, appends dist/constitution/kms_actions.js (the KMS " +
      "governance actions) unless it is already there, and proposes set_constitution. A KMS " +
      "block appended earlier from another build is replaced. Nothing is proposed when the " +
      "constitution already holds these actions. Accepting set_constitution drops every other " +
      "open proposal.",
    options: {
      "add-kms-actions": {
        type: "boolean",
        description: "append the KMS actions and propose set_constitution",
      },
      ...distOptions,
    },
    votes: true,
  }),
  spec({
    name: "propose",
    synopsis: "<file|->",
    summary: 'propose a full proposal {"actions": [{"name", "args"}, ...]}',
    details: "Reads the proposal from a file, or from stdin with -, checks its shape, signs it " +
      "(COSE_Sign1) and submits it, then votes for it.\n\nExample:\n" +
      "  deno task kms propose governance/policies/jwt-validation-policy-demo.json",
    positionals: [fileArg("file|-")],
    votes: true,
  }),
  spec({
    name: "vote",
    synopsis: "<id> [--reject]",
    summary: "vote for (or with --reject, against) an open proposal",
    details: "The ballot is signed by the member (--member, --cert/--key) or, with --vote-with, " +
      "by each listed member of the workspace in turn.\n\nAs with CCF's default constitution, " +
      "votes against never close a proposal: it stays open until more members than half the " +
      "active ones vote for it, or its proposer withdraws it. When the deciding ballot makes " +
      "apply fail, the service records neither: the proposal stays open, and the CLI exits 1 " +
      "with apply's reason.",
    positionals: [{ name: "id", required: true }],
    options: { reject: { type: "boolean", description: "vote against the proposal" } },
    votes: true,
    proposes: false,
  }),
  spec({
    name: "withdraw",
    synopsis: "<id>",
    summary: "withdraw an open proposal (only its proposer may)",
    details: "Signs a withdrawal with the member's key and prints the proposal's final state.",
    positionals: [{ name: "id", required: true }],
  }),
  spec({
    name: "proposal",
    synopsis: "<id> [--json]",
    summary: "show a proposal: state, proposer, ballots, votes, failure reason",
    details: "Reads the proposal through the governance API; no member key is needed.",
    positionals: [{ name: "id", required: true }],
    options: { json: { type: "boolean", description: "print the service's JSON answer" } },
  }),
  spec({
    name: "trust-issuer",
    synopsis: "<issuer> (--jwks FILE|--demo|--auto-refresh --ca-cert-bundle FILE)",
    summary: "trust an attestation token issuer: set_jwt_issuer + set_jwt_validation_policy",
    details: 'Proposes, in one proposal, set_jwt_issuer {issuer, key_filter: "all", jwks} and ' +
      "set_jwt_validation_policy {issuer, validation_policy: {iss: <issuer>}}, so that tokens " +
      "signed by these keys are accepted only when their iss is the issuer.\n\n" +
      '--jwks FILE reads the JWKS ({"keys": [...]}, public keys only, each with a kid; CCF 5 ' +
      "needs x5c). These keys stay until a member proposes others: when the issuer rotates its " +
      "keys, releases fail until then.\n\n" +
      "--auto-refresh lets CCF keep the keys current itself, for an issuer that is an https URL " +
      "publishing /.well-known/openid-configuration (as Azure Attestation does): the proposal " +
      "starts with set_ca_cert_bundle {name, cert_bundle} from --ca-cert-bundle FILE (the PEM " +
      "CA certificates that the issuer's TLS certificate chains to; named " +
      "jwt_issuer_<host> unless --ca-cert-bundle-name says otherwise) and sets " +
      "auto_refresh: true and ca_cert_bundle_name on the issuer. CCF fetches the keys when " +
      "the proposal is applied and again every jwt.key_refresh_interval_s (1800 s by " +
      "default), with no proposal; --jwks is then optional.\n\n" +
      "--demo (demo only) fetches the JWKS from the sandbox's demo attestation issuer " +
      "(`deno task idp`), whose issuer name is the default then.\n\nExamples:\n" +
      "  deno task kms trust-issuer --demo\n" +
      "  deno task kms trust-issuer https://sharedeus2.eus2.attest.azure.net --jwks maa-jwks.json\n" +
      "  deno task kms trust-issuer https://sharedeus2.eus2.attest.azure.net --auto-refresh \\\n" +
      "      --ca-cert-bundle maa-ca.pem",
    positionals: [{ name: "issuer", required: false }],
    options: {
      jwks: { type: "string", value: "FILE", description: "the issuer's JWKS" },
      "auto-refresh": {
        type: "boolean",
        description: "CCF fetches the issuer's keys itself and keeps them current",
      },
      "ca-cert-bundle": {
        type: "string",
        value: "FILE",
        description: "with --auto-refresh: the CA certificates (PEM) of the issuer's TLS",
      },
      "ca-cert-bundle-name": {
        type: "string",
        value: "NAME",
        description: "with --auto-refresh: the bundle's name (default jwt_issuer_<host>)",
      },
      demo: { type: "boolean", description: "demo only: fetch the JWKS from the demo issuer" },
      "idp-url": {
        type: "string",
        value: "URL",
        description: "demo only: the demo issuer (default http://127.0.0.1:3000)",
      },
    },
    votes: true,
  }),
  spec({
    name: "policy",
    synopsis: "add|remove <file>",
    summary: "change the key release policy (set_key_release_policy)",
    details: "The file holds the change: bare {claims, gte?, gt?} (a type, if present, must " +
      "match), or the seed's form {claimType, keyReleaseClaims: {claims, gte?, gt?}}. It is " +
      "checked here before it is signed, and again by the service.\n\nExamples:\n" +
      "  deno task kms policy add governance/policies/key-release-policy-add.json\n" +
      "  deno task kms policy remove governance/policies/key-release-policy-remove.json\n\n" +
      "With --explain TOKEN nothing is proposed: the change is applied to the policy in force " +
      "here, with the KMS's own rules, and the token's claims are checked against both (its " +
      "signature is not); --json prints the result.",
    positionals: [{ name: "add|remove", required: true }, fileArg()],
    options: {
      explain: {
        type: "string",
        value: "TOKEN",
        description: "try the change on an attestation token instead of proposing it",
      },
      json: { type: "boolean", description: "with --explain, print the result as JSON" },
    },
    votes: true,
  }),
  spec({
    name: "settings",
    synopsis: "<file>",
    summary: "set the settings policy (set_settings_policy)",
    details: "The file holds {settings_policy: {service: {name, description, version, debug}}} " +
      "(the seed's flat {settings_policy: {name, ...}} and a bare {service: {...}} work too).\n\n" +
      "Example:\n  deno task kms settings governance/policies/settings-policy.json",
    positionals: [fileArg()],
    votes: true,
  }),
  spec({
    name: "rotation",
    synopsis: "<file>",
    summary: "set the key rotation policy (set_key_rotation_policy)",
    details: "The file holds {key_rotation_policy: {rotation_interval_seconds, " +
      "grace_period_seconds}} (or the bare inner object).\n\n" +
      "Example:\n  deno task kms rotation governance/policies/key-rotation-policy.json",
    positionals: [fileArg()],
    votes: true,
  }),
  spec({
    name: "refresh",
    synopsis: "[--if-due]",
    summary: "create a key now (POST /app/refresh, authenticated with the member certificate)",
    details: "With --if-due, creates one only when the rotation policy says a key is due.",
    options: { "if-due": { type: "boolean", description: "only when rotation is due" } },
  }),
  spec({
    name: "keys",
    synopsis: "[--json]",
    summary: "list the public keys, verifying every receipt against the service certificate",
    details: "Prints, newest last, each key's id, the start of its KeyConfig (hex) and the " +
      "transaction id of its receipt; --json prints them whole. Fails if any receipt does not " +
      "verify.",
    options: { json: { type: "boolean", description: "print the keys as JSON" } },
  }),
  spec({
    name: "audit",
    synopsis: "[--since DATE] [--json]",
    summary: "check what the KMS did: policy versions, keys and releases, every receipt verified",
    details: "Reads the service alone (its endpoints and receipts; no ledger files, so it works " +
      "against a real CCF network): every version of the key release, settings and rotation " +
      "policies with the proposal that set it, every key ever created and every key release, " +
      "each receipt verified against the service certificate. Prints a timeline; --json prints " +
      "the report for tools; --since (seconds since the epoch, or a date) limits keys and " +
      "releases to later ones. Exits 1 when a receipt does not verify, is not signed yet, or a " +
      "number is missing.\n\nExample:\n  deno task kms audit --since 2026-12-01",
    options: {
      since: { type: "string", value: "DATE", description: "only keys and releases from DATE on" },
      json: { type: "boolean", description: "print the report as JSON" },
    },
  }),
  spec({
    name: "explain",
    synopsis: "--token T|--token-file FILE [--kid N] [--json]",
    summary: "what the key release policy says about a token, rule by rule (POST /app/explain)",
    details: "Asks the service, which releases and records nothing: whether /key would release a " +
      "key to this token now, the issuer's JWT validation policy, each rule of the key release " +
      "policy in force with the token's value, the TPM wrapping key, and the key that would be " +
      "released. Prints one line a check; --json prints the service's answer.\n\n" +
      "Example:\n  deno task kms explain --token-file token.jwt",
    options: {
      ...tokenOptions,
      json: { type: "boolean", description: "print the service's JSON answer" },
    },
  }),
  spec({
    name: "key",
    synopsis: "--token T|--token-file FILE [--kid N] [--unwrap-workspace DIR | --out FILE]",
    summary: "release a private key with an attestation token (POST /app/key)",
    details: "Without --unwrap-workspace, prints the released key's id, the size of the wrapped " +
      "key and its receipt's transaction id; --out FILE saves the service's answer (the key " +
      "stays wrapped to the TPM key of the token).\n\n" +
      "With --unwrap-workspace DIR (demo only), unwraps it with the sandbox's demo TPM key of " +
      "that workspace (DIR/idp/tpm_privk.pem), checks it against the published KeyConfig and " +
      "receipt, and prints the key id and public key only.\n\n" +
      "The token is never printed. --token puts it in the process list: prefer --token-file " +
      "(- for stdin) on shared machines.",
    options: {
      ...tokenOptions,
      "unwrap-workspace": {
        type: "string",
        value: "DIR",
        description: "demo only: unwrap with the demo TPM key of this workspace",
      },
      out: {
        type: "string",
        value: "FILE",
        description: "save the answer {kid, key (wrapped), receipt} to FILE (mode 0600)",
      },
    },
  }),
  spec({
    name: "receipt",
    synopsis: "<txid>",
    summary: "print the receipt of a transaction (GET /app/receipt?transaction_id=<txid>)",
    details: "The transaction id has the form <view>.<seqno>, e.g. 2.20. Waits while the " +
      "service answers 202 (the signature is not written yet).",
    positionals: [{ name: "txid", required: true }],
  }),
];

/** The command named `name`, if any. */
export const commandNamed = (name: string): CommandSpec | undefined =>
  commands.find((c) => c.name === name);

/** The options particular to `command` (all but the connection options). */
const ownOptions = (command: CommandSpec): OptionSpecs => ({
  ...command.options,
  ...(command.votes ? voteOptions : {}),
  ...(command.proposes ? dryRunOptions : {}),
});

/** Every option `command` accepts. */
export const optionsOf = (command: CommandSpec): OptionSpecs => ({
  ...ownOptions(command),
  ...connectionOptions,
});

/** Width of the help text, the project's line width. */
const helpWidth = 100;
const optionColumn = 27;

/** Breaks `text` into lines of at most `width` characters, each starting with `indent`. */
export const wrap = (text: string, width = helpWidth, indent = ""): string[] => {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/ +/)) {
    if (line !== "" && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  if (line !== "") lines.push(indent + line);
  return lines;
};

/** Wraps each paragraph; lines indented by the author (examples) are kept as they are. */
const wrapParagraphs = (text: string): string[] =>
  text.split("\n").flatMap((line) => line === "" || line.startsWith(" ") ? [line] : wrap(line));

const renderOptions = (specs: OptionSpecs): string[] =>
  Object.entries(specs).flatMap(([name, s]) => {
    const left = `  ${s.short ? `-${s.short}, ` : ""}--${name}${s.value ? ` ${s.value}` : ""}`;
    const [first, ...rest] = wrap(s.description, helpWidth - optionColumn);
    return [
      left.length < optionColumn ? `${left.padEnd(optionColumn)}${first}` : left,
      ...(left.length < optionColumn ? [] : [" ".repeat(optionColumn) + first]),
      ...rest.map((r) => " ".repeat(optionColumn) + r),
    ];
  });

/** The overview printed by `deno task kms --help`. */
export const overview = (): string =>
  [
    "Usage: deno task kms <command> [options]",
    "",
    "Operates a KMS on CCF (or the sandbox) through CCF's governance API and the app's",
    "endpoints. Every change is a COSE-signed proposal; the CLI prints its id and final state.",
    "",
    "Commands:",
    ...commands.map((c) => `  ${c.name.padEnd(14)} ${c.summary}`),
    "",
    "Connection options (every command):",
    ...renderOptions(connectionOptions),
    "",
    "Run `deno task kms <command> --help` for a command's arguments and options.",
  ].join("\n");

/** The help of one command. */
export const commandHelp = (command: CommandSpec): string =>
  [
    `Usage: deno task kms ${command.name}${command.synopsis ? ` ${command.synopsis}` : ""}`,
    "",
    ...wrap(command.summary[0].toUpperCase() + command.summary.slice(1) + "."),
    "",
    ...wrapParagraphs(command.details),
    "",
    ...(Object.keys(ownOptions(command)).length > 0
      ? ["Options:", ...renderOptions(ownOptions(command)), ""]
      : []),
    "Connection options:",
    ...renderOptions(connectionOptions),
  ].join("\n");

/** What the command line asks for. */
export type Invocation =
  | { readonly kind: "help"; readonly command?: CommandSpec }
  | { readonly kind: "run"; readonly command: CommandSpec; readonly args: ParsedArgs };

/** Where the command name is: the first argument that is neither an option nor its value. */
const commandIndex = (argv: readonly string[]): number => {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("-") || arg === "-") return i;
    const name = arg.slice(2);
    if (arg.startsWith("--") && connectionOptions[name]?.type === "string") i++;
  }
  return -1;
};

/**
 * An argument as an error quotes it: a long one is cut, since a misplaced attestation token (a
 * forgotten `--token`) must not be echoed whole.
 */
const quoted = (arg: string): string => (arg.length > 24 ? `${arg.slice(0, 16)}…` : arg);

/**
 * Parses the whole command line: the command name first (global options may come before it),
 * then its arguments. `help`, `--help` and `-h` anywhere ask for help.
 */
export const parseCommandLine = (argv: readonly string[]): Invocation => {
  const at = commandIndex(argv);
  const name = at < 0 ? undefined : argv[at];
  if (name === undefined) {
    if (argv.length === 0 || argv.includes("--help") || argv.includes("-h")) {
      return { kind: "help" };
    }
    throw new UsageError("no command given");
  }
  if (name === "help") {
    const topic = argv[at + 1];
    if (topic === undefined) return { kind: "help" };
    const command = commandNamed(topic);
    if (!command) throw new UsageError(`unknown command ${quoted(topic)}`);
    return { kind: "help", command };
  }
  const command = commandNamed(name);
  if (!command) throw new UsageError(`unknown command ${quoted(name)}`);
  const rest = [...argv.slice(0, at), ...argv.slice(at + 1)];
  if (rest.includes("--help") || rest.includes("-h")) return { kind: "help", command };
  const args = parseArgs(rest, optionsOf(command), command.name);
  const required = command.positionals.filter((p) => p.required).length;
  if (args.positionals.length < required) {
    const missing = command.positionals.slice(args.positionals.length).map((p) => `<${p.name}>`);
    throw new UsageError(`missing ${missing.join(" ")}`, command.name);
  }
  if (args.positionals.length > command.positionals.length) {
    const extra = args.positionals.slice(command.positionals.length);
    throw new UsageError(`unexpected argument(s): ${extra.map(quoted).join(" ")}`, command.name);
  }
  return { kind: "run", command, args };
};
