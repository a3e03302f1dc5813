import { parseArgs } from "node:util";
import { ConfigError, loadConfig, type Config } from "../services/common/config.js";
import { ModelFileError } from "../services/agent/model-file/validate-gguf.js";
import { serveAgent, serveAll, serveFacade, serveRouter } from "./commands/serve.js";
import { withRegistry } from "./commands/with-registry.js";
import { runRouteCommand } from "./commands/route.js";
import { runRecommendCommand } from "./commands/models-recommend.js";

const usage = `usage: iir <command> [options]

commands:
  all                      facade, router and local agent in one process (the default of npm start)
  router                   the router alone (gRPC, Connect and gRPC-Web on IIR_ROUTER_PORT)
  facade [--router URL]    the OpenAI REST facade alone, calling a router over h2c
  agent [--router URL]     a local GGUF model (IIR_AGENT_MODEL) joining a router
  migrate                  run registry migrations
  models list|add|update|rm  manage registry models (iir models --help)
  models recommend|load    model files that fit each agent; load one (a running router)
  seed FILE                load models from a YAML or JSON file
  keys create|list|revoke  manage facade API keys (iir keys --help)
  route explain '<json>'   which model "auto" would choose for a chat request, and why
`;

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  switch (command) {
    case "all":
      return serveAll(readConfig());
    case "router":
      return serveRouter(readConfig());
    case "facade": {
      const { values } = parseArgs({ args, options: { router: { type: "string" } } });
      return serveFacade(readConfig(values.router ? { IIR_ROUTER_URL: values.router } : {}));
    }
    case "agent": {
      const { values } = parseArgs({ args, options: { router: { type: "string" } } });
      return serveAgent(readConfig(values.router ? { ROUTER_URL: values.router } : {}));
    }
    case "models":
      if (args[0] === "recommend" || args[0] === "load") {
        return runRecommendCommand(args, readConfig(), { log: (line) => process.stdout.write(`${line}\n`) });
      }
      return withRegistry(readConfig(), command, args);
    case "migrate":
    case "seed":
    case "keys":
      return withRegistry(readConfig(), command, args);
    case "route":
      return runRouteCommand(args, readConfig(), { log: (line) => process.stdout.write(`${line}\n`) }, readStandardInput);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(usage);
      return;
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

async function readStandardInput(): Promise<string> {
  let text = "";
  for await (const chunk of process.stdin) text += String(chunk);
  return text;
}

/** A command line the CLI cannot act on; exit code 2. */
export class UsageError extends Error {}

function readConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({ ...process.env, ...overrides });
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`iir: ${describeStartupError(error)}\n`);
  if (error instanceof UsageError) process.stderr.write(usage);
  // Subcommands raise their own UsageError (cli/commands/models-usage.ts) carrying exitCode 2.
  process.exit(error instanceof UsageError || (error as { exitCode?: unknown } | undefined)?.exitCode === 2 ? 2 : 1);
});

/** One clear line for what went wrong at start-up; no stack traces for expected failures. */
function describeStartupError(error: unknown): string {
  if (error instanceof ConfigError || error instanceof ModelFileError) return error.message;
  const code = (error as { code?: unknown } | undefined)?.code;
  if (code === "EADDRINUSE") {
    const port = (error as { port?: unknown }).port;
    return `port ${String(port)} is already in use (set IIR_FACADE_PORT or IIR_ROUTER_PORT to another port)`;
  }
  if (code === "EACCES" && (error as { syscall?: unknown }).syscall === "listen") {
    return `not allowed to listen on port ${String((error as { port?: unknown }).port)}`;
  }
  return error instanceof Error ? error.message : String(error);
}
