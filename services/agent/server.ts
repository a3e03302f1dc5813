import os from "node:os";
import path from "node:path";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { InferenceService } from "../../gen/iir/inference/v1/inference_pb.js";
import type { Config } from "../common/config.js";
import { listenConnect, type ConnectServer } from "../common/connect-server.js";
import type { Logger } from "../common/logger.js";
import { createAgentTokenCheck } from "../common/mesh-tokens.js";
import { createMeshTransport } from "../common/mesh-transport.js";
import { isLoopbackHost } from "../common/peer.js";
import type { Telemetry } from "../common/telemetry/telemetry.js";
import { traceInferenceService } from "../common/telemetry/traced-inference-service.js";
import { createHealthService } from "../router/grpc-health.js";
import { describeHost, loadLlamaEngine, type LlamaEngine } from "./engine/llama-engine.js";
import { createAgentInferenceService } from "./inference-service.js";
import { joinMesh, type Membership } from "./mesh-membership.js";
import { ensureTinyModel } from "./model-file/tiny-model.js";

/** A started agent. */
export interface RunningAgent {
  readonly id: string;
  readonly modelId: string;
  readonly port: number;
  readonly address: string;
  readonly engine: LlamaEngine;
  readonly membership: Membership;
  /** Deregisters, lets in-flight generations finish for up to graceMs, then frees the model. */
  close(graceMs: number): Promise<void>;
}

/** The model id for a GGUF file: `local/<file name without extension>`. */
export function defaultModelId(modelPath: string): string {
  return `local/${path.basename(modelPath).replace(/\.gguf$/i, "")}`;
}

/**
 * Loads the model (the built-in tiny one unless IIR_AGENT_MODEL names a file), serves
 * InferenceService on IIR_AGENT_PORT, and joins the mesh at `routerUrl`. With the process's
 * `telemetry` tracing, each generation is a span continuing the trace the router's call carried.
 */
export async function startAgent(config: Config, logger: Logger, routerUrl = config.agent.routerUrl, telemetry?: Telemetry): Promise<RunningAgent> {
  const settings = config.agent;
  const modelPath = settings.modelPath ?? (await ensureTinyModel(settings.tinyModelPath));
  const modelId = settings.modelId ?? defaultModelId(modelPath);
  const started = performance.now();
  const engine = await loadLlamaEngine({
    modelPath,
    threads: settings.threads,
    gpu: settings.gpu,
    parallel: settings.parallel,
    maxQueue: settings.maxQueue,
    contextSize: settings.contextSize,
    log: (level, message) => logger[level]("llama.cpp", { message }),
  });
  logger.info("model loaded", { model: modelId, file: modelPath, ms: Math.round(performance.now() - started), contextSize: engine.contextSize, threads: settings.threads, gpu: engine.gpu?.name ?? "none" });
  let server: ConnectServer | undefined;
  try {
    const health = createHealthService();
    // The id is known only once the port is: it defaults to host name and port.
    let agentId = settings.id ?? "";
    const routes = (router: ConnectRouter) => {
      const inference = createAgentInferenceService({ engine, modelId, get agentId() { return agentId; } });
      const tracing = telemetry?.tracing;
      router.service(InferenceService, tracing === undefined ? inference : traceInferenceService(inference, tracing, { scope: "iir.agent", provider: "local" }));
      router.service(Health, health.service);
    };
    server = await listenConnect({
      routes,
      interceptors: [createAgentCallerPolicy(config.agentToken)],
      host: settings.host,
      port: settings.port,
      readMaxBytes: config.maxBodyBytes,
      tls: config.tls,
      limits: config.serverLimits,
    });
    if (agentId === "") agentId = `${os.hostname()}-${server.port}`;
    const address = settings.advertiseUrl ?? `${config.tls === undefined ? "http" : "https"}://127.0.0.1:${server.port}`;
    if (!isLoopbackHost(settings.host) && config.agentToken === undefined && config.tls?.ca === undefined) {
      logger.warn("this agent listens on other interfaces but answers only callers on this machine: set IIR_AGENT_TOKEN on it and its router (or use mutual TLS)", { agentHost: settings.host });
    } else if (!isLoopbackHost(settings.host) && config.tls === undefined) {
      logger.warn("this agent's port is reachable from other machines without TLS: set IIR_TLS_CERT and IIR_TLS_KEY (and IIR_TLS_CA for mutual TLS)", { agentHost: settings.host });
    }
    const host = describeHost();
    const membership = joinMesh({
      transport: createMeshTransport(routerUrl, { tls: config.tls }),
      agentId,
      address,
      models: [modelId],
      hardware: { ...host, memoryBytes: BigInt(host.memoryBytes), gpuName: engine.gpu?.name ?? "", gpuVramBytes: BigInt(engine.gpu?.vramBytes ?? 0) },
      token: config.agentToken,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      load: () => engine.load(),
      logger,
    });
    const running = server;
    return {
      id: agentId,
      modelId,
      port: running.port,
      address,
      engine,
      membership,
      async close(graceMs) {
        health.shutdown();
        await membership.leave();
        await running.close(graceMs);
        await engine.close();
      },
    };
  } catch (error) {
    await server?.close(0);
    await engine.close();
    throw error;
  }
}

/**
 * An agent answers inference calls only from its router: a caller presenting the agent token (with
 * IIR_AGENT_TOKEN set), one with a client certificate the mesh's CA signed, or, without a token, a
 * caller on this machine. Health checks stay open, for probes.
 */
function createAgentCallerPolicy(token: string | undefined): Interceptor {
  const check = createAgentTokenCheck(token, "calling this agent");
  return (next) => async (request) => {
    if (request.service.typeName === InferenceService.typeName) check({ requestHeader: request.header, values: request.contextValues });
    return next(request);
  };
}
