#!/usr/bin/env -S node --max-semi-space-size=8 --v8-pool-size=2
// The `iir` command. Runs the compiled CLI in dist/ (`npm run build`; npm start, test and bench build
// first) when it is at least as new as every TypeScript source, else the sources through tsx, so an
// edit is never shadowed by a stale build. Compiled, start-up takes a fraction of a second and
// ~60 MB less memory than compiling on the fly.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import v8 from "node:v8";

// Memory under load. V8's defaults suit a batch job, not a gateway: the heap may grow to twice and
// more of what is live before a full collection, and the young generation to 3 × 16 MB. With old-space
// growth held to 15% per collection (set here, as it can be at run time) and 8 MB semi-spaces
// (`--max-semi-space-size=8` must be given to node itself: this file's first line and `npm start` do)
// `iir all` peaks at ~120 MB instead of ~230 MB under load. 4 MB semi-spaces saved 10 MB more but
// cost streams ~10% in collections. Flags given to node explicitly win.
// Two V8 helper threads (`--v8-pool-size=2`, also given to node itself) instead of Node's four: a
// young-generation collection waits for every helper it splits its work among, and on a small
// machine, where the helpers queue behind the gateway's peers for a core, four made the wait longer
// than the work. On 2 cores, streams gained 3–5% (and one helper did no better than two).
if (!process.execArgv.some((flag) => flag.startsWith("--heap-growing-percent"))) v8.setFlagsFromString("--heap-growing-percent=15");

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const compiled = path.join(root, "dist", "cli", "main.js");

function newestSource(directory) {
  let newest = 0;
  for (const entry of fs.readdirSync(directory, { withFileTypes: true })) {
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(full));
    else if (entry.name.endsWith(".ts")) newest = Math.max(newest, fs.statSync(full).mtimeMs);
  }
  return newest;
}

function buildIsFresh() {
  try {
    const built = fs.statSync(compiled).mtimeMs;
    return ["cli", "services", "facade", "gen"].every((folder) => newestSource(path.join(root, folder)) <= built);
  } catch {
    return false;
  }
}

if (buildIsFresh()) {
  await import(pathToFileURL(compiled).href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../cli/main.ts");
}
