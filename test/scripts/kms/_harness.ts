/**
 * The CLI tests' harness: `deno task kms` run in-process with captured output, and test members
 * laid out as CCF's sandbox writes them (EC P-384 keys in SEC1 PEM, "EC PRIVATE KEY", and
 * self-signed certificates, under `<workspace>/sandbox_common/member{N}_*.pem`).
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { generateKeyPairSync } from "node:crypto";
import { join } from "node:path";
import { runKms } from "../../../scripts/kms/cli.ts";
import type { Env } from "../../../scripts/kms/config.ts";

/** What a run printed and returned. */
export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI with `argv`, an empty environment unless given, in `cwd`. */
export const runCli = async (
  argv: readonly string[],
  options: { env?: Env; cwd?: string; stdin?: string; clock?: () => number } = {},
): Promise<Run> => {
  const stdout: string[] = [], stderr: string[] = [];
  const code = await runKms(argv, {
    streams: { stdout: (l) => stdout.push(l), stderr: (l) => stderr.push(l) },
    env: options.env ?? {},
    cwd: options.cwd ?? Deno.cwd(),
    readStdin: () => Promise.resolve(options.stdin ?? ""),
    clock: options.clock ?? Date.now,
  });
  return { code, stdout: stdout.join("\n"), stderr: stderr.join("\n") };
};

/** A member's PEMs. */
export interface TestMember {
  readonly certPem: string;
  readonly keyPem: string;
}

/** A fresh member named `name`. */
export const makeMember = async (name: string): Promise<TestMember> => {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "secp384r1" });
  const keyPem = privateKey.export({ type: "sec1", format: "pem" }).toString();
  const pkcs8 = Uint8Array.from(privateKey.export({ type: "pkcs8", format: "der" }));
  const alg = { name: "ECDSA", namedCurve: "P-384", hash: "SHA-384" };
  const signing = await crypto.subtle.importKey("pkcs8", pkcs8, alg, true, ["sign"]);
  const jwk = await crypto.subtle.exportKey("jwk", signing);
  delete jwk.d;
  delete jwk.key_ops;
  const publicKey = await crypto.subtle.importKey("jwk", jwk, alg, true, ["verify"]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${name}`,
    keys: { privateKey: signing, publicKey },
    signingAlgorithm: alg,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
  });
  return { certPem: cert.toString("pem"), keyPem };
};

/** A temporary workspace holding `count` members and a service certificate. */
export const makeWorkspace = async (count: number): Promise<{
  readonly dir: string;
  readonly members: readonly TestMember[];
}> => {
  const dir = await Deno.makeTempDir({ prefix: "kms-cli-test-" });
  const common = join(dir, "sandbox_common");
  await Deno.mkdir(common);
  const members: TestMember[] = [];
  for (let i = 0; i < count; i++) {
    const member = await makeMember(`member${i}`);
    await Deno.writeTextFile(join(common, `member${i}_cert.pem`), member.certPem);
    await Deno.writeTextFile(join(common, `member${i}_privk.pem`), member.keyPem);
    members.push(member);
  }
  await Deno.writeTextFile(join(common, "service_cert.pem"), (await makeMember("service")).certPem);
  return { dir, members };
};
