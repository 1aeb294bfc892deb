/**
 * `deno task bundle`: builds the CCF artefacts into `dist/`:
 * - `bundle.json`, the `bundle` argument of `set_js_app` (app.json metadata + one module, app.js);
 * - `set_js_app.json`, the proposal that deploys it;
 * - `constitution/kms_actions.js`, the KMS actions to append to a constitution.
 *
 * esbuild compiles ES2020 for CCF's QuickJS: one module with every handler a local export, no Node
 * or Deno built-ins, minified. fp-ts is taken in its ES module build (`fp-ts/es6`) so that io-ts and
 * our code share one copy.
 */
import * as esbuild from "esbuild";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
/** CCF's default maximum HTTP body; the set_js_app proposal must fit in it. */
const maxProposalBytes = 1024 * 1024;

const usage = `deno task bundle [--out DIR]

Builds dist/bundle.json, dist/set_js_app.json and dist/constitution/kms_actions.js.
Fails if the set_js_app proposal exceeds CCF's default 1 MB request body limit.`;

const fpTsEsm: esbuild.Plugin = {
  name: "fp-ts-esm",
  setup(build) {
    build.onResolve(
      { filter: /^fp-ts\/lib\// },
      (args) =>
        build.resolve(args.path.replace(/^fp-ts\/lib\//, "fp-ts/es6/"), {
          kind: args.kind,
          resolveDir: args.resolveDir,
        }),
    );
  },
};

// esbuild keeps non-ASCII characters as they are (charset utf8): a string's length is not its size.
const byteLength = (text: string): number => new TextEncoder().encode(text).length;

const compile = async (entry: string, format: "esm" | "iife"): Promise<string> => {
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: [join(root, entry)],
    bundle: true,
    write: false,
    format,
    target: "es2020",
    platform: "neutral",
    mainFields: ["module", "main"],
    minify: true,
    legalComments: "none",
    charset: "utf8",
    plugins: [fpTsEsm],
  });
  return result.outputFiles[0].text;
};

/** Builds the artefacts into `out` and returns their sizes in bytes. */
export const buildBundle = async (out: string): Promise<Record<string, number>> => {
  try {
    const metadata = JSON.parse(await Deno.readTextFile(join(root, "ccf/app/app.json")));
    const bundle = {
      metadata,
      modules: [{ name: "app.js", module: await compile("ccf/app/main.ts", "esm") }],
    };
    const actions = await compile("ccf/constitution/actions.ts", "iife");
    const proposal = JSON.stringify({
      actions: [{ name: "set_js_app", args: { bundle, disable_bytecode_cache: false } }],
    });
    const proposalBytes = byteLength(proposal);
    if (proposalBytes > maxProposalBytes) {
      throw new Error(
        `the set_js_app proposal is ${proposalBytes} bytes, over CCF's 1 MB body limit`,
      );
    }
    await Deno.mkdir(join(out, "constitution"), { recursive: true });
    await Deno.writeTextFile(join(out, "bundle.json"), JSON.stringify(bundle));
    await Deno.writeTextFile(join(out, "set_js_app.json"), proposal);
    await Deno.writeTextFile(join(out, "constitution/kms_actions.js"), actions);
    return {
      "app.js": byteLength(bundle.modules[0].module),
      "set_js_app.json": proposalBytes,
      "kms_actions.js": byteLength(actions),
    };
  } finally {
    await esbuild.stop();
  }
};

if (import.meta.main) {
  if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
    console.log(usage);
    Deno.exit(0);
  }
  const at = Deno.args.indexOf("--out");
  const out = at >= 0 && Deno.args[at + 1] ? Deno.args[at + 1] : join(root, "dist");
  console.log("bundling the KMS app and constitution actions...");
  const sizes = await buildBundle(out);
  for (const [file, bytes] of Object.entries(sizes)) {
    console.log(`  ${file}: ${(bytes / 1024).toFixed(1)} KiB`);
  }
  console.log(`wrote ${out}/bundle.json, set_js_app.json, constitution/kms_actions.js`);
}
