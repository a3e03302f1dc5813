import os from "node:os";
import path from "node:path";
import { loadConfig } from "../../services/common/config.js";
import { createLogger } from "../../services/common/logger.js";
import { ensureTinyModel } from "../../services/agent/model-file/tiny-model.js";
import { startAgent, type RunningAgent } from "../../services/agent/server.js";

/** One tiny model for the whole test run, written on first use (safe when test files race). */
export const testTinyModelPath = path.join(os.tmpdir(), "iir-test-models", "iir-tiny.gguf");

/** The built-in tiny model's path, generating it when missing. */
export function tinyModel(): Promise<string> {
  return ensureTinyModel(testTinyModelPath);
}

/** Environment for an agent on loopback: tiny model, CPU, one thread, port chosen by the OS, fast beats. */
export async function agentEnv(env: Record<string, string> = {}): Promise<Record<string, string>> {
  return {
    IIR_HOST: "127.0.0.1",
    IIR_AGENT_PORT: "0",
    IIR_AGENT_MODEL: await tinyModel(),
    IIR_AGENT_THREADS: "1",
    IIR_AGENT_GPU: "false",
    HEARTBEAT_INTERVAL: "1",
    LOG_LEVEL: "silent",
    ...env,
  };
}

/** An agent in this process joining the router at `routerUrl`; resolves once it registered. */
export async function startTestAgent(routerUrl: string, env: Record<string, string> = {}): Promise<RunningAgent> {
  const config = loadConfig(await agentEnv(env));
  const agent = await startAgent(config, createLogger({ level: config.logLevel, name: "test-agent" }), routerUrl);
  await agent.membership.registered;
  return agent;
}
