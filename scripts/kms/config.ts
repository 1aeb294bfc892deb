/**
 * Where the service is and who the operator is, from options, the environment the sandbox prints
 * (`KMS_URL`, `KMS_SERVICE_CERT_PATH`, `KMS_MEMBER_CERT_PATH`, `KMS_MEMBER_PRIVK_PATH`,
 * `KMS_WORKSPACE`) and the workspace layout of CCF's sandbox (`sandbox_common/member{N}_*.pem`).
 *
 * Precedence: an option beats the environment, which beats the workspace's defaults; but an
 * explicit `--workspace` beats the environment's paths, since naming a workspace means its files.
 */
import { createPrivateKey, createPublicKey } from "node:crypto";
import { publicKeyOf } from "../../ccf/gov/x509.ts";
import { join, resolve as resolvePath } from "node:path";
import { type ParsedArgs, stringOption } from "./args.ts";
import { CliError, UsageError } from "./errors.ts";
import type { Signer } from "../../ccf/gov/client.ts";
import { certId } from "../../ccf/gov/cose.ts";

/** The sandbox's address, as CCF's sandbox.sh serves it. */
export const defaultUrl = "https://127.0.0.1:8000";
/** The workspace directory when neither `--workspace` nor `KMS_WORKSPACE` names one. */
export const defaultWorkspace = "workspace";

/** A member's certificate and key files. */
export interface MemberFiles {
  /** How the operator knows this member, e.g. `member1`. */
  readonly label: string;
  readonly certPath: string;
  readonly keyPath: string;
}

/** How to reach the service, and as whom. */
export interface Connection {
  /** The service root without a trailing slash, e.g. `https://127.0.0.1:8000`. */
  readonly url: string;
  readonly serviceCertPath: string;
  readonly workspace: string;
  readonly member: MemberFiles;
}

/** Environment variables, by name. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Parses a member index (`0`, `1`, ...), naming `what` in the error. */
export const parseMemberIndex = (value: string, what: string, command?: string): number => {
  if (!/^\d{1,4}$/.test(value)) {
    throw new UsageError(`${what} must be a member number such as 0, not ${value}`, command);
  }
  return Number(value);
};

/** Parses `--vote-with 0,1,2` into distinct member indices, in the order given. */
export const parseMemberList = (value: string, command?: string): number[] => {
  const items = value.split(",").map((s) => s.trim());
  if (items.some((s) => s === "")) {
    throw new UsageError(`--vote-with must list member numbers such as 0,1,2`, command);
  }
  const indices = items.map((s) => parseMemberIndex(s, "--vote-with", command));
  const repeated = indices.find((n, i) => indices.indexOf(n) !== i);
  if (repeated !== undefined) {
    throw new UsageError(`--vote-with lists member ${repeated} twice`, command);
  }
  return indices;
};

/** The files of member `n` in a CCF sandbox workspace. */
export const workspaceMember = (workspace: string, n: number): MemberFiles => ({
  label: `member${n}`,
  certPath: join(workspace, "sandbox_common", `member${n}_cert.pem`),
  keyPath: join(workspace, "sandbox_common", `member${n}_privk.pem`),
});

/** The service certificate of a CCF sandbox workspace. */
export const workspaceServiceCert = (workspace: string): string =>
  join(workspace, "sandbox_common", "service_cert.pem");

const resolveUrl = (given: string, command?: string): string => {
  let url: URL;
  try {
    url = new URL(given);
  } catch {
    throw new UsageError(`--url must be a URL such as ${defaultUrl}, not ${given}`, command);
  }
  if (url.protocol !== "https:") {
    throw new UsageError(`--url must be https: CCF serves TLS only (got ${given})`, command);
  }
  if (url.search || url.hash) {
    throw new UsageError("--url must be the service root, without query or fragment", command);
  }
  return url.href.replace(/\/+$/, "");
};

const resolveMember = (
  args: ParsedArgs,
  env: Env,
  cwd: string,
  workspace: string,
  explicitWorkspace: boolean,
  command?: string,
): MemberFiles => {
  const cert = stringOption(args, "cert"), key = stringOption(args, "key");
  const member = stringOption(args, "member");
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError("--cert and --key go together", command);
  }
  if (cert !== undefined && key !== undefined) {
    if (member !== undefined) {
      throw new UsageError("give --member or --cert/--key, not both", command);
    }
    return {
      label: `the member of ${cert}`,
      certPath: resolvePath(cwd, cert),
      keyPath: resolvePath(cwd, key),
    };
  }
  if (member !== undefined) {
    return workspaceMember(workspace, parseMemberIndex(member, "--member", command));
  }
  const envCert = env.KMS_MEMBER_CERT_PATH, envKey = env.KMS_MEMBER_PRIVK_PATH;
  if (!explicitWorkspace && (envCert || envKey)) {
    if (!envCert || !envKey) {
      throw new UsageError(
        "KMS_MEMBER_CERT_PATH and KMS_MEMBER_PRIVK_PATH must be set together",
        command,
      );
    }
    return {
      label: "the member of KMS_MEMBER_CERT_PATH",
      certPath: resolvePath(cwd, envCert),
      keyPath: resolvePath(cwd, envKey),
    };
  }
  return workspaceMember(workspace, 0);
};

/** Resolves the connection from the parsed options, the environment and the working directory. */
export const resolveConnection = (
  args: ParsedArgs,
  env: Env,
  cwd: string,
  command?: string,
): Connection => {
  const explicitWorkspace = stringOption(args, "workspace");
  const workspace = resolvePath(
    cwd,
    explicitWorkspace ?? (env.KMS_WORKSPACE || defaultWorkspace),
  );
  const serviceCert = stringOption(args, "service-cert") ??
    (explicitWorkspace === undefined ? env.KMS_SERVICE_CERT_PATH : undefined);
  return {
    url: resolveUrl(stringOption(args, "url") ?? (env.KMS_URL || defaultUrl), command),
    serviceCertPath: serviceCert ? resolvePath(cwd, serviceCert) : workspaceServiceCert(workspace),
    workspace,
    member: resolveMember(args, env, cwd, workspace, explicitWorkspace !== undefined, command),
  };
};

/** The members who vote on what a command proposes: `--vote-with`, else the proposer alone. */
export const resolveVoters = (
  args: ParsedArgs,
  connection: Connection,
  command?: string,
): MemberFiles[] => {
  const list = stringOption(args, "vote-with");
  return list === undefined
    ? [connection.member]
    : parseMemberList(list, command).map((n) => workspaceMember(connection.workspace, n));
};

/** Reads a file the operator named, with an error that says which file and what it is for. */
export const readNamedFile = async (path: string, what: string): Promise<string> => {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    const reason = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
    throw new CliError(`cannot read ${what} ${path}: ${reason}`);
  }
};

const sameKey = (keyPem: string, certPem: string): boolean => {
  const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: "spki", format: "der" });
  const fromCert = publicKeyOf(certPem).export({ type: "spki", format: "der" });
  return fromKey.equals(fromCert);
};

/**
 * Loads a member's certificate and key, checking that they belong together (a mismatch would
 * otherwise surface as an unhelpful signature failure at the service). `onSecret` receives the
 * key so that output can mask it.
 */
export const loadSigner = async (
  files: MemberFiles,
  onSecret: (secret: string) => void = () => {},
): Promise<Signer> => {
  const certPem = await readNamedFile(files.certPath, `the certificate of ${files.label}`);
  const keyPem = await readNamedFile(files.keyPath, `the private key of ${files.label}`);
  onSecret(keyPem);
  let id: string;
  try {
    id = certId(certPem);
  } catch {
    throw new CliError(`${files.certPath} is not a PEM certificate`);
  }
  let matches: boolean;
  try {
    matches = sameKey(keyPem, certPem);
  } catch {
    throw new CliError(`${files.keyPath} is not a PEM private key`);
  }
  if (!matches) {
    throw new CliError(
      `the key ${files.keyPath} does not belong to the certificate ${files.certPath}`,
    );
  }
  return { label: files.label, id, certPem, keyPem };
};
