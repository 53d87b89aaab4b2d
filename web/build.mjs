// Bundles src/main.js into dist/app.js with esbuild, stamping the bundle version: the client
// version and the first 12 hex digits of the SHA-256 over web/src (each file's name, a NUL, its
// bytes, a NUL, in name order). The page sends it in its auth hello; the host logs it and says
// whether it matches the bundle the host itself embeds. web/bundle_test.go recomputes it, so a
// committed bundle that does not match the sources fails the tests.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";

const here = new URL(".", import.meta.url).pathname;
const src = join(here, "src");
const h = createHash("sha256");
for (const name of readdirSync(src).filter((n) => n.endsWith(".js")).sort()) {
  h.update(name + "\0");
  h.update(readFileSync(join(src, name)));
  h.update("\0");
}
const version = "deskport-web/1+" + h.digest("hex").slice(0, 12);
// `--outfile=PATH` writes the bundle elsewhere (make web-dist-check compares a fresh build with
// the committed one); `--log-level=LEVEL` is esbuild's.
const arg = (name) => process.argv.slice(2).find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const outfile = arg("outfile") || join(here, "dist", "app.js");
await build({
  entryPoints: [join(src, "main.js")],
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  legalComments: "eof",
  outfile,
  logLevel: arg("log-level") || "info",
  define: { "globalThis.DESKPORT_BUNDLE_VERSION": JSON.stringify(version) },
});
if (!arg("log-level")) console.log(`built ${outfile}, bundle version ${version}`);
