import os from "node:os";
import { Code, ConnectError, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { InferenceService } from "../../gen/iir/inference/v1/inference_pb.js";
import { AgentControlService } from "../../gen/iir/agent/v1/agent_control_pb.js";
import type { ModelFile } from "../../gen/iir/registry/v1/registry_pb.js";
import type { Config } from "../common/config.js";
import { listenConnect, type ConnectServer } from "../common/connect-server.js";
import type { Logger } from "../common/logger.js";
import { createAgentTokenCheck } from "../common/mesh-tokens.js";
import { createMeshTransport } from "../common/mesh-transport.js";
import { isLoopbackHost } from "../common/peer.js";
import type { Telemetry } from "../common/telemetry/telemetry.js";
import { traceInferenceService } from "../common/telemetry/traced-inference-service.js";
import { createHealthService } from "../router/grpc-health.js";
import { loadLlamaEngine, type LlamaEngine } from "./engine/llama-engine.js";
import { createAgentInferenceService } from "./inference-service.js";
import { joinMesh, type Membership } from "./mesh-membership.js";
import { createAgentControlService } from "./model-catalog/agent-control-service.js";
import { describeAgentHardware } from "./model-catalog/agent-hardware.js";
import { resolveModelFileName } from "./model-catalog/model-file-name.js";
import { scanModelsDirectory } from "./model-catalog/scan-models-dir.js";
import { defaultModelId } from "./model-id.js";
import { ModelFileError } from "./model-file/validate-gguf.js";
import { ensureTinyModel } from "./model-file/tiny-model.js";

export { defaultModelId } from "./model-id.js";

/** A started agent. */
export interface RunningAgent {
  readonly id: string;
  /** The model served now; a LoadModel call changes it. */
  readonly modelId: string;
  readonly port: number;
  readonly address: string;
  readonly engine: LlamaEngine;
  readonly membership: Membership;
  /** The GGUF files of IIR_AGENT_MODELS_DIR at the last scan. */
  readonly modelFiles: readonly ModelFile[];
  /** Deregisters, lets in-flight generations finish for up to graceMs, then frees the model. */
  close(graceMs: number): Promise<void>;
}

/**
 * Loads the model (the built-in tiny one unless IIR_AGENT_MODEL names a file), serves
 * InferenceService on IIR_AGENT_PORT, and joins the mesh at `routerUrl`. With the process's
 * `telemetry` tracing, each generation is a span continuing the trace the router's call carried.
 * With IIR_AGENT_MODELS_DIR it describes that directory's GGUF files to the router (with every
 * registration and on ScanModels) and serves AgentControlService, whose LoadModel replaces the
 * served model by one of those files.
 */
export async function startAgent(config: Config, logger: Logger, routerUrl = config.agent.routerUrl, telemetry?: Telemetry): Promise<RunningAgent> {
  const settings = config.agent;
  const modelPath = settings.modelPath ?? (await ensureTinyModel(settings.tinyModelPath));
  const engineOptions = (filePath: string, contextSize: number) => ({
    modelPath: filePath,
    threads: settings.threads,
    gpu: settings.gpu,
    parallel: settings.parallel,
    maxQueue: settings.maxQueue,
    contextSize,
    log: (level: "warn" | "error", message: string) => logger[level]("llama.cpp", { message }),
  });
  const started = performance.now();
  // What is served now: a LoadModel call replaces it as a whole.
  let served = { engine: await loadLlamaEngine(engineOptions(modelPath, settings.contextSize)), modelId: settings.modelId ?? defaultModelId(modelPath) };
  logger.info("model loaded", { model: served.modelId, file: modelPath, ms: Math.round(performance.now() - started), contextSize: served.engine.contextSize, threads: settings.threads, gpu: served.engine.gpu?.name ?? "none" });
  const hardware = () => describeAgentHardware(served.engine.gpu, settings.memoryLimitBytes);
  let modelFiles: readonly ModelFile[] = [];
  const scan = async () => {
    if (settings.modelsDir !== undefined) {
      modelFiles = await scanModelsDirectory(settings.modelsDir, { gpu: served.engine.gpu !== undefined, logger }).catch((error: unknown) => {
        throw new ConnectError(`cannot read the models directory: ${error instanceof Error ? error.message : String(error)}`, Code.FailedPrecondition);
      });
    }
    return { hardware: hardware(), modelFiles };
  };
  let server: ConnectServer | undefined;
  let membership: Membership | undefined;
  try {
    await scan().catch((error: unknown) => logger.warn("models directory not scanned", { directory: settings.modelsDir, error: error instanceof Error ? error.message : String(error) }));
    const health = createHealthService();
    // The id is known only once the port is: it defaults to host name and port.
    let agentId = settings.id ?? "";
    let loading = false;
    const load = async (fileName: string, contextSize: number) => {
      const filePath = await resolveModelFileName(settings.modelsDir, fileName);
      if (loading) throw new ConnectError("another model is being loaded on this agent", Code.Aborted);
      loading = true;
      try {
        const engine = await loadLlamaEngine(engineOptions(filePath, contextSize || settings.contextSize)).catch((error: unknown) => {
          if (error instanceof ModelFileError) throw new ConnectError(`${fileName} cannot be loaded: ${error.detail}`, Code.InvalidArgument);
          throw error;
        });
        const previous = served;
        served = { engine, modelId: defaultModelId(filePath) };
        logger.info("model replaced", { model: served.modelId, file: fileName, previous: previous.modelId, contextSize: engine.contextSize });
        await membership?.registerAgain().catch((error: unknown) => logger.warn("could not register the new model yet; the next beats will", { error: error instanceof Error ? error.message : String(error) }));
        // Generations already running on the old model finish first (bounded), then it is freed.
        void drainAndClose(previous.engine, 30_000);
        return { modelId: served.modelId, contextSize: engine.contextSize };
      } finally {
        loading = false;
      }
    };
    const routes = (router: ConnectRouter) => {
      const inference = createAgentInferenceService({ get engine() { return served.engine; }, get modelId() { return served.modelId; }, get agentId() { return agentId; } });
      const tracing = telemetry?.tracing;
      router.service(InferenceService, tracing === undefined ? inference : traceInferenceService(inference, tracing, { scope: "iir.agent", provider: "local" }));
      router.service(AgentControlService, createAgentControlService({ scan, load }));
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
    const joined = joinMesh({
      transport: createMeshTransport(routerUrl, { tls: config.tls }),
      agentId,
      address,
      models: () => [served.modelId],
      hardware,
      modelFiles: () => modelFiles,
      token: config.agentToken,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      load: () => served.engine.load(),
      logger,
    });
    membership = joined;
    const running = server;
    return {
      id: agentId,
      get modelId() { return served.modelId; },
      port: running.port,
      address,
      get engine() { return served.engine; },
      membership: joined,
      get modelFiles() { return modelFiles; },
      async close(graceMs) {
        health.shutdown();
        await joined.leave();
        await running.close(graceMs);
        await served.engine.close();
      },
    };
  } catch (error) {
    await server?.close(0);
    await served.engine.close();
    throw error;
  }
}

/** Frees a replaced engine once its generations finished, or after `limitMs` at the latest. */
async function drainAndClose(engine: LlamaEngine, limitMs: number): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    const load = engine.load();
    if (load.activeSequences === 0 && load.queueLength === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await engine.close().catch(() => undefined);
}

/**
 * An agent answers inference calls only from its router: a caller presenting the agent token (with
 * IIR_AGENT_TOKEN set), one with a client certificate the mesh's CA signed, or, without a token, a
 * caller on this machine. Health checks stay open, for probes.
 */
function createAgentCallerPolicy(token: string | undefined): Interceptor {
  const check = createAgentTokenCheck(token, "calling this agent");
  return (next) => async (request) => {
    if (request.service.typeName === InferenceService.typeName || request.service.typeName === AgentControlService.typeName) check({ requestHeader: request.header, values: request.contextValues });
    return next(request);
  };
}
