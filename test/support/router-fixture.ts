import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ExecutionContext } from "ava";
import { loadConfig } from "../../services/common/config.js";
import { createLogger } from "../../services/common/logger.js";
import { startRouter } from "../../services/router/server.js";
import { testAdminToken } from "./admin.js";

/**
 * The real router on a loopback port chosen by the OS, with a fresh SQLite registry and any further
 * configuration in `env`; stopped when the test ends.
 */
export async function startTestRouter(t: ExecutionContext, env: Record<string, string> = {}): Promise<{ port: number }> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "iir-router-"));
  const config = loadConfig({
    IIR_ROUTER_PORT: "0",
    SQLITE_DB_PATH: path.join(directory, "iir.db"),
    LOG_LEVEL: "silent",
    IIR_HOST: "127.0.0.1",
    IIR_ADMIN_TOKEN: testAdminToken,
    ...env,
  });
  const router = await startRouter(config, createLogger({ level: config.logLevel, name: "test" }));
  t.teardown(async () => {
    await router.close(1000);
    fs.rmSync(directory, { recursive: true, force: true });
  });
  return { port: router.port };
}
