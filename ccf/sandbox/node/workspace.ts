/**
 * The sandbox workspace, laid out like CCF's `sandbox.sh` one so that operators' scripts and curl
 * habits carry over:
 *
 * ```
 * <workspace>/sandbox_common/service_cert.pem            the service CA (clients trust it)
 *                            member{i}_cert.pem, member{i}_privk.pem   SEC1 P-384, mode 0600
 *                            user{i}_cert.pem,   user{i}_privk.pem
 * <workspace>/sandbox_0/service_privk.pem                 the service CA's key, mode 0600
 *                       node_cert.pem, node_privk.pem     TLS + ledger signing key, mode 0600
 *                       0.ledger/                          the ledger (ledger/ledger.ts)
 * <workspace>/sandbox_<i>/node_cert.pem, node_privk.pem, 0.ledger/   node i of a network
 * ```
 *
 * Existing files are reused, so a restart keeps every identity. Missing files are created; a
 * node certificate close to expiry is renewed with the same key (member and user certificates
 * are never replaced: their hashes are the ids registered in the ledger).
 */
import { dirname, join, resolve } from "node:path";
import { syncDirectory } from "../ledger/ledgerFile.ts";
import {
  certificateId,
  certificateMatchesKey,
  createIdentityCertificate,
  createNodeCertificate,
  createServiceCertificate,
  generateP384KeyPair,
  importP384KeyPair,
  isEndorsedBy,
  nodeIdOf,
  type P384KeyPair,
  validityOf,
} from "./certificates.ts";

/** Validity of new service, member and user certificates. */
const IDENTITY_CERT_DAYS = 365;
/** Validity of a new node certificate (CCF's sandbox default). */
const NODE_CERT_DAYS = 90;
/** A node certificate with less validity left than this is renewed at start. */
const NODE_CERT_RENEW_MS = 7 * 24 * 3600 * 1000;

/** A member or user: its files and its CCF id (hex SHA-256 of the certificate DER). */
export interface Identity {
  /** The identity's name, e.g. `member0`. */
  readonly name: string;
  /** Its id: hex SHA-256 of its certificate's DER. */
  readonly id: string;
  /** Its certificate, PEM. */
  readonly certPem: string;
  /** Where its certificate is. */
  readonly certPath: string;
  /** Where its private key is. */
  readonly keyPath: string;
}

/** Every path of a workspace. */
export interface WorkspacePaths {
  /** The workspace directory. */
  readonly root: string;
  /** `sandbox_common`: service certificate and identities, as CCF's sandbox lays them out. */
  readonly common: string;
  /** `sandbox_<i>` of this node (`sandbox_0` for the first or only one): its files and its log. */
  readonly nodeDir: string;
  /** The node's ledger directory. */
  readonly ledgerDir: string;
  /** The service certificate. */
  readonly serviceCert: string;
  /** The service key (in `sandbox_0`, whichever node this is). */
  readonly serviceKey: string;
  /** The node certificate, endorsed by the service key. */
  readonly nodeCert: string;
  /** The node key. */
  readonly nodeKey: string;
  /** Where identity `name`'s certificate is. */
  readonly identityCert: (name: string) => string;
  /** Where identity `name`'s private key is. */
  readonly identityKey: (name: string) => string;
}

/** A prepared workspace: paths, the node's credentials and the identities. */
export interface Workspace {
  /** Where everything is. */
  readonly paths: WorkspacePaths;
  /** The service certificate, PEM. */
  readonly serviceCertPem: string;
  /** The node certificate, PEM. */
  readonly nodeCertPem: string;
  /** The node key, PEM. */
  readonly nodeKeyPem: string;
  /** Hex SHA-256 of the node's public key DER. */
  readonly nodeId: string;
  /** The members. */
  readonly members: readonly Identity[];
  /** The users. */
  readonly users: readonly Identity[];
  /** What was created or renewed, for the start-up log. */
  readonly changes: readonly string[];
}

/** What {@link prepareWorkspace} creates. */
export interface WorkspaceOptions {
  readonly dir: string;
  readonly members: number;
  readonly users: number;
  /** Which node of the network the workspace is prepared for (default 0, the only one). */
  readonly node?: number;
  /** Current time in milliseconds (default `Date.now()`). */
  readonly now?: number;
}

/** The paths of the workspace at `dir`, as node `node` (default 0) sees it. */
export function workspacePaths(dir: string, node = 0): WorkspacePaths {
  const root = resolve(dir);
  const common = join(root, "sandbox_common");
  const nodeDir = join(root, `sandbox_${node}`);
  return {
    root,
    common,
    nodeDir,
    ledgerDir: join(nodeDir, "0.ledger"),
    serviceCert: join(common, "service_cert.pem"),
    serviceKey: join(root, "sandbox_0", "service_privk.pem"),
    nodeCert: join(nodeDir, "node_cert.pem"),
    nodeKey: join(nodeDir, "node_privk.pem"),
    identityCert: (name) => join(common, `${name}_cert.pem`),
    identityKey: (name) => join(common, `${name}_privk.pem`),
  };
}

/** A text file's content, or `undefined` when there is no such file. */
export const readIfExists = async (path: string): Promise<string | undefined> => {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
};

/**
 * Writes through a temporary file, an fsync and a rename, so that neither a crash nor a power loss
 * leaves half a PEM (or, after the rename, an empty file) behind: a lost service or node key
 * cannot be recovered. The temporary file is created afresh with `mode` before the key is written
 * into it, so a stale one left by a crash never exposes the key under its looser mode.
 */
const writeAtomically = async (path: string, text: string, mode: number): Promise<void> => {
  const tmp = `${path}.tmp`;
  await Deno.remove(tmp).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
  const file = await Deno.open(tmp, { write: true, createNew: true, mode });
  try {
    // The mode given to open is filtered by the umask; set it outright.
    if (Deno.build.os !== "windows") await Deno.chmod(tmp, mode);
    const bytes = new TextEncoder().encode(text);
    for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
    await file.sync();
  } finally {
    file.close();
  }
  await Deno.rename(tmp, path);
  syncDirectory(dirname(path));
};

const PRIVATE = 0o600;
const PUBLIC = 0o644;

/** A key pair from `keyPath`, created there if absent; keys are never readable by others. */
const keyPairAt = async (
  keyPath: string,
  changes: string[],
): Promise<{ pair: P384KeyPair; created: boolean }> => {
  const existing = await readIfExists(keyPath);
  if (existing !== undefined) {
    await Deno.chmod(keyPath, PRIVATE);
    return { pair: await importP384KeyPair(existing), created: false };
  }
  const pair = await generateP384KeyPair();
  await writeAtomically(keyPath, pair.privateKeyPem, PRIVATE);
  changes.push(`created ${keyPath}`);
  return { pair, created: true };
};

const identity = async (
  paths: WorkspacePaths,
  name: string,
  now: number,
  changes: string[],
): Promise<Identity> => {
  const certPath = paths.identityCert(name);
  const keyPath = paths.identityKey(name);
  const existingCert = await readIfExists(certPath);
  if (existingCert !== undefined && await readIfExists(keyPath) === undefined) {
    throw new Error(`${certPath} exists but its key ${keyPath} does not`);
  }
  const { pair } = await keyPairAt(keyPath, changes);
  let certPem = existingCert;
  if (certPem === undefined || !certificateMatchesKey(certPem, pair.privateKeyPem)) {
    certPem = (await createIdentityCertificate(pair.keys, name, now, IDENTITY_CERT_DAYS)).pem;
    await writeAtomically(certPath, certPem, PUBLIC);
    changes.push(`created ${certPath}`);
  }
  return { name, id: certificateId(certPem), certPem, certPath, keyPath };
};

/**
 * Creates the workspace at `options.dir`, or reuses what it holds: the service CA, the key and
 * certificate of node `options.node`, `members` members and `users` users.
 */
export async function prepareWorkspace(options: WorkspaceOptions): Promise<Workspace> {
  const now = options.now ?? Date.now();
  const paths = workspacePaths(options.dir, options.node);
  const changes: string[] = [];
  await Deno.mkdir(paths.common, { recursive: true });
  await Deno.mkdir(dirname(paths.serviceKey), { recursive: true, mode: 0o700 });
  await Deno.mkdir(paths.nodeDir, { recursive: true, mode: 0o700 });

  const existingService = await readIfExists(paths.serviceCert);
  if (existingService !== undefined && await readIfExists(paths.serviceKey) === undefined) {
    throw new Error(
      `${paths.serviceCert} exists but its key ${paths.serviceKey} does not: ` +
        "the service identity cannot be recovered; use a new workspace",
    );
  }
  const service = await keyPairAt(paths.serviceKey, changes);
  let serviceCertPem = existingService;
  if (
    serviceCertPem === undefined ||
    !certificateMatchesKey(serviceCertPem, service.pair.privateKeyPem)
  ) {
    if (serviceCertPem !== undefined) {
      throw new Error(`${paths.serviceCert} does not match the key ${paths.serviceKey}`);
    }
    serviceCertPem = (await createServiceCertificate(service.pair.keys, now, IDENTITY_CERT_DAYS))
      .pem;
    await writeAtomically(paths.serviceCert, serviceCertPem, PUBLIC);
    changes.push(`created ${paths.serviceCert}`);
  }

  const node = await keyPairAt(paths.nodeKey, changes);
  let nodeCertPem = await readIfExists(paths.nodeCert);
  const renew = nodeCertPem === undefined ||
    !certificateMatchesKey(nodeCertPem, node.pair.privateKeyPem) ||
    validityOf(nodeCertPem).notAfter - now < NODE_CERT_RENEW_MS ||
    !await isEndorsedBy(nodeCertPem, serviceCertPem);
  if (renew) {
    const wasThere = nodeCertPem !== undefined;
    nodeCertPem = (await createNodeCertificate(
      node.pair.keys.publicKey,
      { keys: service.pair.keys, certPem: serviceCertPem },
      now,
      NODE_CERT_DAYS,
    )).pem;
    await writeAtomically(paths.nodeCert, nodeCertPem, PUBLIC);
    changes.push(`${wasThere ? "renewed" : "created"} ${paths.nodeCert}`);
  }

  const members: Identity[] = [];
  for (let i = 0; i < options.members; i++) {
    members.push(await identity(paths, `member${i}`, now, changes));
  }
  const users: Identity[] = [];
  for (let i = 0; i < options.users; i++) {
    users.push(await identity(paths, `user${i}`, now, changes));
  }
  return {
    paths,
    serviceCertPem,
    nodeCertPem: nodeCertPem!,
    nodeKeyPem: node.pair.privateKeyPem,
    nodeId: nodeIdOf(node.pair.privateKeyPem),
    members,
    users,
    changes,
  };
}
