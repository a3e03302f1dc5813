import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../../services/common/config.js";

// The environment variables IIR reads, found from the code itself, for the tests that check the
// documentation of them (docs/configuration.md, .env.example).

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Every environment variable `loadConfig` reads, recorded by a Proxy standing in for the environment. */
export function variablesReadByConfig(): Set<string> {
  const names = new Set<string>();
  const environment = new Proxy({} as NodeJS.ProcessEnv, {
    get(_target, property) {
      if (typeof property === "string") names.add(property);
      return undefined;
    },
  });
  const config = loadConfig(environment);
  for (const provider of Object.values(config.providers)) {
    names.add(provider.baseUrlVariable);
    names.add(provider.apiKeyVariable);
  }
  return names;
}

/** Names read as `process.env.NAME` or `process.env["NAME"]` anywhere in the product's sources, tests aside. */
export function variablesReadElsewhere(): Set<string> {
  const names = new Set<string>();
  const pattern = /process\.env\.([A-Za-z_][A-Za-z0-9_]*)|process\.env\[\s*["'`]([^"'`]+)["'`]\s*\]/g;
  const visit = (directory: string): void => {
    for (const entry of fs.readdirSync(directory, { withFileTypes: true })) {
      const full = path.join(directory, entry.name);
      if (entry.isDirectory()) visit(full);
      else if (/\.(ts|js)$/.test(entry.name) && !/\.test\.ts$/.test(entry.name)) {
        for (const match of fs.readFileSync(full, "utf8").matchAll(pattern)) names.add(match[1] ?? match[2] ?? "");
      }
    }
  };
  for (const folder of ["services", "cli", "facade", "bin"]) visit(path.join(root, folder));
  return names;
}
