// Builds the phone app served at /scan/ into webapp/dist (git-ignored): `node build.mjs [--force]`.
//
// Output: dist/index.html, dist/sw.js, dist/manifest.webmanifest and dist/assets/ with content-hashed names
// (the service caches those for a year): the app bundle, its stylesheet, the decoder worker, the zxing-wasm
// reader's .wasm under a name carrying its version, and the icons. dist/build.json lists them with the
// version the service worker caches under. A stamp of every input's content makes a second run a no-op.
// The app's JavaScript must stay within the budget below (gzip); the build fails past it.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, extname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import * as esbuild from "esbuild";

const ROOT = dirname(fileURLToPath(import.meta.url));
const DIST = join(ROOT, "dist");
const BASE = "/scan/";
const BUDGET_GZIP = 60 * 1024;
const TARGET = ["chrome100", "safari16"]; // package.json browserslist: Android Chrome/WebView >= 100, Safari >= 16
const WASM = join(ROOT, "node_modules/zxing-wasm/dist/reader/zxing_reader.wasm");
const ZXING_VERSION = JSON.parse(readFileSync(join(ROOT, "node_modules/zxing-wasm/package.json"), "utf8")).version;

function sha256(data) {
  return createHash("sha256").update(data).digest("hex");
}

function filesUnder(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(path) : [path];
  });
}

function inputsStamp() {
  const inputs = [
    ...filesUnder(join(ROOT, "src")), ...filesUnder(join(ROOT, "static")),
    join(ROOT, "build.mjs"), join(ROOT, "package.json"), join(ROOT, "package-lock.json"), WASM,
    join(ROOT, "../verify_api/static/style.css"), // the public pages' stylesheet, which app.css imports
  ].sort();
  const hash = createHash("sha256");
  for (const path of inputs) hash.update(relative(ROOT, path)).update("\0").update(readFileSync(path)).update("\0");
  return hash.digest("hex");
}

function hashedName(name, data) {
  const ext = extname(name);
  return `${basename(name, ext)}-${sha256(data).slice(0, 10)}${ext}`;
}

async function bundle(entry, define, outdir, splitting = false) {
  const result = await esbuild.build({
    entryPoints: [entry], bundle: true, format: "esm", minify: true, target: TARGET, write: false, metafile: true,
    outdir, entryNames: "[name]-[hash]", chunkNames: "chunk-[hash]", splitting, define, legalComments: "none",
    logLevel: "warning",
  });
  return result;
}

/** The outputs a page loads before it can scan (the entry and what it imports statically), by path. */
function initialOutputs(metafile, outdir) {
  const [entry] = Object.entries(metafile.outputs).find(([, out]) => out.entryPoint);
  const seen = new Set();
  const visit = (path) => {
    if (seen.has(path)) return;
    seen.add(path);
    for (const dep of metafile.outputs[path].imports) if (dep.kind === "import-statement") visit(dep.path);
  };
  visit(entry);
  return new Set([...seen].map((path) => join(outdir, basename(path))));
}

async function build(out) {
  const assets = join(out, "assets");
  mkdirSync(assets, { recursive: true });
  const files = {}; // logical name -> served path
  const put = (logical, name, data) => {
    writeFileSync(join(assets, name), data);
    files[logical] = `${BASE}assets/${name}`;
  };

  const wasm = readFileSync(WASM);
  put("decoder.wasm", `zxing_reader-${ZXING_VERSION}-${sha256(wasm).slice(0, 10)}.wasm`, wasm);
  for (const icon of filesUnder(join(ROOT, "static/icons"))) {
    const data = readFileSync(icon);
    put(basename(icon), hashedName(basename(icon), data), data);
  }

  const gzip = {}; // what a page loads before it can scan, and what it loads only when needed (SM2, no Ed25519)
  const size = (data) => gzipSync(data, { level: 9 }).length;
  const worker = await bundle(join(ROOT, "src/app/decode-worker.js"), {
    __WASM_URL__: JSON.stringify(files["decoder.wasm"]),
  }, assets);
  for (const output of worker.outputFiles) {
    put("decoder.js", basename(output.path), output.contents);
    gzip["decoder.js"] = size(output.contents);
  }
  const app = await bundle(join(ROOT, "src/app/main.js"), {
    __DECODER_URL__: JSON.stringify(files["decoder.js"]),
  }, assets, true);
  const initial = initialOutputs(app.metafile, assets);
  for (const output of app.outputFiles) {
    const name = basename(output.path);
    const logical = name.endsWith(".css") ? "app.css" : name.startsWith("main-") ? "app.js" : name;
    put(logical, name, output.contents);
    if (name.endsWith(".js")) {
      const kind = initial.has(output.path) ? "initial" : "lazy";
      gzip[kind] = (gzip[kind] || 0) + size(output.contents);
    }
  }

  const manifest = JSON.stringify({
    id: BASE, name: "起重机械证书扫码核验 Crane certificate scanner", short_name: "扫码核验",
    description: "扫描起重机械使用登记证书二维码，离线也能核验 · Verify crane registration certificates, offline too",
    lang: "zh-CN", start_url: BASE, scope: BASE, display: "standalone", orientation: "portrait",
    background_color: "#eef1f4", theme_color: "#12355b",
    icons: [
      { src: files["icon-192.png"], sizes: "192x192", type: "image/png", purpose: "any" },
      { src: files["icon-512.png"], sizes: "512x512", type: "image/png", purpose: "any" },
      { src: files["maskable-512.png"], sizes: "512x512", type: "image/png", purpose: "maskable" },
    ],
  }, null, 1);
  writeFileSync(join(out, "manifest.webmanifest"), manifest);

  let html = readFileSync(join(ROOT, "src/app/index.html"), "utf8");
  html = html.replace(/\{\{([\w.-]+)\}\}/g, (_, name) => {
    if (!files[name]) throw new Error(`index.html names an unknown asset: ${name}`);
    return files[name];
  });
  writeFileSync(join(out, "index.html"), html);

  // The version covers everything the worker caches: a change anywhere is a new version on the phone.
  const shell = [BASE, `${BASE}manifest.webmanifest`, `${BASE}config.json`, ...Object.values(files)].sort();
  const version = sha256(html + manifest + shell.join("\n")).slice(0, 12);
  const { outputFiles: [sw] } = await bundle(join(ROOT, "src/app/sw.js"), {
    __VERSION__: JSON.stringify(version), __SHELL__: JSON.stringify(shell),
  }, out);
  writeFileSync(join(out, "sw.js"), sw.contents);

  const total = gzip.initial + gzip["decoder.js"];
  writeFileSync(join(out, "build.json"), JSON.stringify({ version, zxing: ZXING_VERSION, files, shell, gzip }, null, 1));
  return { version, gzip, total };
}

async function main(argv) {
  const stamp = inputsStamp();
  const stampPath = join(DIST, ".stamp");
  if (!argv.includes("--force") && existsSync(stampPath) && readFileSync(stampPath, "utf8") === stamp) {
    console.log("webapp: dist is up to date");
    return 0;
  }
  // Built aside, then moved in entry by entry: a running service never serves a half-written file.
  const next = join(DIST, ".next");
  rmSync(next, { recursive: true, force: true });
  const { version, gzip, total } = await build(next);
  const kb = (n) => (n / 1024).toFixed(1);
  console.log(`webapp: version ${version}; app JS ${kb(total)} KB gzip (page ${kb(gzip.initial)}, decoder ` +
              `${kb(gzip["decoder.js"])}; budget ${kb(BUDGET_GZIP)}); loaded only when needed ${kb(gzip.lazy || 0)} KB ` +
              `gzip; wasm ${kb(statSync(WASM).size)} KB`);
  if (total > BUDGET_GZIP) {
    console.error(`webapp: app JS is ${kb(total)} KB gzip, over the ${kb(BUDGET_GZIP)} KB budget`);
    rmSync(next, { recursive: true, force: true });
    return 1;
  }
  for (const entry of readdirSync(DIST)) {
    if (entry !== ".next") rmSync(join(DIST, entry), { recursive: true, force: true });
  }
  for (const entry of readdirSync(next)) renameSync(join(next, entry), join(DIST, entry));
  rmSync(next, { recursive: true, force: true });
  writeFileSync(stampPath, stamp);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
