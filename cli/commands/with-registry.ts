import type { Config } from "../../services/common/config.js";
import { openRegistry } from "../../services/router/registry/database.js";
import { migrateToLatest } from "../../services/router/registry/migrations/index.js";
import { runKeysCommand } from "./keys.js";
import { runMigrateCommand, runModelsCommand, runSeedCommand } from "./models.js";

const output = { log: (line: string) => process.stdout.write(`${line}\n`) };

/** Runs a registry admin command against the database the router uses (DATABASE_URL, else SQLITE_DB_PATH); a running router sees the change within IIR_REGISTRY_REFRESH_MS. */
export async function withRegistry(config: Config, command: "migrate" | "models" | "seed" | "keys", args: string[]): Promise<void> {
  const db = openRegistry(config);
  try {
    if (command === "migrate") {
      await runMigrateCommand(db, output);
      return;
    }
    await migrateToLatest(db);
    if (command === "keys") await runKeysCommand(args, db, output);
    else if (command === "models") await runModelsCommand(args, db, output);
    else await runSeedCommand(args, db, output);
  } finally {
    await db.destroy();
  }
}
