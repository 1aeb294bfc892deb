import assert from "node:assert/strict";
import { join } from "node:path";
import { buildBundle } from "../../scripts/bundle.ts";

Deno.test("bundle: writes the three artefacts, one ES module of local handler exports under 1 MB", async () => {
  const out = await Deno.makeTempDir();
  try {
    const sizes = await buildBundle(out);
    assert.ok(sizes["set_js_app.json"] < 1024 * 1024);
    // Sizes are bytes on disk, which CCF's body limit counts, not string lengths.
    assert.equal(sizes["set_js_app.json"], (await Deno.stat(join(out, "set_js_app.json"))).size);
    assert.equal(
      sizes["kms_actions.js"],
      (await Deno.stat(join(out, "constitution/kms_actions.js"))).size,
    );
    const bundle = JSON.parse(await Deno.readTextFile(join(out, "bundle.json")));
    const proposal = JSON.parse(await Deno.readTextFile(join(out, "set_js_app.json")));
    assert.deepEqual(proposal.actions[0].args.bundle, bundle);
    assert.deepEqual(bundle.modules.map((m: { name: string }) => m.name), ["app.js"]);
    const source: string = bundle.modules[0].module;
    const endpoints = Object.values(bundle.metadata.endpoints).flatMap((e) =>
      Object.values(e as object)
    );
    for (const e of endpoints) {
      assert.equal(e.js_module, "app.js");
      // A local export in esbuild's output reads `export{<local> as <name>, ...}`.
      assert.match(source, new RegExp(`export\\{[^}]*\\b${e.js_function}\\b[^}]*\\}`));
      assert.ok(["readonly", "readwrite"].includes(e.mode));
    }
    assert.doesNotMatch(source, /\brequire\(|\bimport\(|from"node:|Deno\./);
    const actions = await Deno.readTextFile(join(out, "constitution/kms_actions.js"));
    for (
      const name of [
        "set_key_release_policy",
        "set_settings_policy",
        "set_key_rotation_policy",
        "set_jwt_validation_policy",
      ]
    ) {
      assert.match(actions, new RegExp(name));
    }
    assert.doesNotMatch(actions, /\bexport\b|\bimport\b/);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
