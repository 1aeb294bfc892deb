/**
 * `deno task kms <command>`: the operator CLI of the KMS. Governance changes are COSE-signed
 * proposals through CCF's public governance API, so the same commands work against the sandbox
 * and a real CCF network. `deno task kms --help` lists the commands.
 */
import { runKms } from "./kms/cli.ts";

if (import.meta.main) {
  Deno.exit(await runKms(Deno.args));
}
