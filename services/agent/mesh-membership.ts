import { createClient, type Transport } from "@connectrpc/connect";
import { BeatAction, HeartbeatService } from "../../gen/iir/heartbeat/v1/heartbeat_pb.js";
import { RegistryService, type Hardware, type ModelFile } from "../../gen/iir/registry/v1/registry_pb.js";
import type { Logger } from "../common/logger.js";
import type { EngineLoad } from "./engine/llama-engine.js";

/** What an agent tells the router about itself, and how it reaches it. */
export interface MembershipOptions {
  readonly transport: Transport;
  readonly agentId: string;
  /** The address the router should call, e.g. http://10.0.0.5:50061. */
  readonly address: string;
  /** Read at every registration: the served model can change (a LoadModel call). */
  readonly models: () => readonly string[];
  readonly hardware: () => Omit<Hardware, "$typeName" | "$unknown">;
  /** The GGUF files of the models directory at its last scan, sent with every registration. */
  readonly modelFiles?: () => readonly ModelFile[];
  /** Sent as a Bearer token when the router requires one. */
  readonly token: string | undefined;
  /** Beat interval until the router names its own. */
  readonly heartbeatIntervalMs: number;
  readonly load: () => EngineLoad;
  readonly logger: Logger;
  /** First retry delay after a failed registration; doubles up to maxBackoffMs (default 200 / 10 000). */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

/** An agent's place in the mesh. */
export interface Membership {
  /** Resolves once the first registration succeeded. */
  readonly registered: Promise<void>;
  /** Registers again now with what models/hardware/modelFiles say (after the served model changed). */
  registerAgain(): Promise<void>;
  /** Stops beating and deregisters (best effort, bounded by timeoutMs). */
  leave(timeoutMs?: number): Promise<void>;
}

/**
 * Registers with the router (retrying with exponential backoff and full jitter while it is
 * unreachable), then beats every interval with the engine's load. A beat the router answers with
 * REGISTER (it restarted, or marked the agent gone) makes the agent register again.
 */
export function joinMesh(options: MembershipOptions): Membership {
  const registry = createClient(RegistryService, options.transport);
  const heartbeat = createClient(HeartbeatService, options.transport);
  const headers = options.token === undefined ? undefined : { authorization: `Bearer ${options.token}` };
  const stopped = new AbortController();
  let intervalMs = options.heartbeatIntervalMs;
  let markRegistered: () => void = () => undefined;
  const registered = new Promise<void>((resolve) => (markRegistered = resolve));

  const register = async (): Promise<void> => {
    let delay = options.initialBackoffMs ?? 200;
    for (let attempt = 1; !stopped.signal.aborted; attempt++) {
      try {
        const models = [...options.models()];
        const modelFiles = [...(options.modelFiles?.() ?? [])];
        const answer = await registry.registerAgent(
          { id: options.agentId, address: options.address, models, hardware: options.hardware(), modelFiles },
          { headers, signal: stopped.signal, timeoutMs: 5000 },
        );
        if (answer.heartbeatIntervalSeconds > 0) intervalMs = answer.heartbeatIntervalSeconds * 1000;
        options.logger.info("agent registered", { agent: options.agentId, address: options.address, models, modelFiles: modelFiles.length, attempt });
        markRegistered();
        return;
      } catch (error) {
        if (stopped.signal.aborted) return;
        options.logger.warn("agent registration failed; retrying", { attempt, retryInMs: delay, error: describe(error) });
        // Full jitter: agents restarted together do not hammer the router in step.
        await sleep(Math.random() * delay, stopped.signal);
        delay = Math.min(delay * 2, options.maxBackoffMs ?? 10_000);
      }
    }
  };

  const beatLoop = async (): Promise<void> => {
    await register();
    let failing = false;
    while (!stopped.signal.aborted) {
      await sleep(intervalMs, stopped.signal);
      if (stopped.signal.aborted) return;
      try {
        const answer = await heartbeat.beat({ agentId: options.agentId, load: options.load() }, { headers, signal: stopped.signal, timeoutMs: 5000 });
        if (failing) options.logger.info("heartbeats reach the router again", { agent: options.agentId });
        failing = false;
        if (answer.intervalSeconds > 0) intervalMs = answer.intervalSeconds * 1000;
        if (answer.action === BeatAction.REGISTER) {
          options.logger.info("router does not know this agent; registering again", { agent: options.agentId });
          await register();
        }
      } catch (error) {
        if (stopped.signal.aborted) return;
        // Logged once per outage: an unreachable router must not flood the log every interval.
        if (!failing) options.logger.warn("heartbeat failed", { agent: options.agentId, error: describe(error) });
        failing = true;
      }
    }
  };
  const running = beatLoop();

  return {
    registered,
    async registerAgain() {
      // Once; a router that is away learns the new model when the beats make the agent register again.
      const answer = await registry.registerAgent(
        { id: options.agentId, address: options.address, models: [...options.models()], hardware: options.hardware(), modelFiles: [...(options.modelFiles?.() ?? [])] },
        { headers, signal: stopped.signal, timeoutMs: 5000 },
      );
      if (answer.heartbeatIntervalSeconds > 0) intervalMs = answer.heartbeatIntervalSeconds * 1000;
      options.logger.info("agent registered again", { agent: options.agentId, models: options.models() });
    },
    async leave(timeoutMs = 2000) {
      stopped.abort();
      await running;
      try {
        await registry.deregisterAgent({ id: options.agentId }, { headers, timeoutMs });
        options.logger.info("agent deregistered", { agent: options.agentId });
      } catch (error) {
        options.logger.warn("agent could not deregister", { agent: options.agentId, error: describe(error) });
      }
    },
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
