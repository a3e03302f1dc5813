import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { InferenceService, type ChatParams, type ChatStreamResponse } from "../../../../gen/iir/inference/v1/inference_pb.js";
import { describeNetworkError, describeNodeError, findGatewayError, findUpstreamError, gatewayConnectError, upstreamConnectError } from "../../../common/errors.js";
import { redactAddresses } from "../../../common/redact-url.js";
import type { ChatAdapter, ChatTarget } from "../adapter.js";

/** Settings of the agent adapter. */
export interface AgentAdapterOptions {
  /** Longest a call may take; 0: no limit. */
  readonly timeoutMs: number;
  /** Builds the transport for an agent address; tests may inject their own. */
  readonly createTransport?: (baseUrl: string) => Transport;
  /**
   * Told when an agent broke under a call (its connection reset or refused, or its stream cut off
   * mid-answer), so the router stops sending it requests at once rather than after missed heartbeats.
   */
  readonly onAgentBroken?: (agentId: string) => void;
}

/**
 * The adapter for IIR agents: a gRPC client of the agent's own InferenceService over h2c, one
 * pooled HTTP/2 connection per agent address. Parts pass through with the agent id as backend;
 * the agent's Connect codes (ResourceExhausted when its queue is full…) reach the caller as they are.
 */
export function createAgentAdapter(options: AgentAdapterOptions): ChatAdapter {
  const clients = new Map<string, Client<typeof InferenceService>>();
  const makeTransport = options.createTransport ?? ((baseUrl: string) => createGrpcTransport({ baseUrl }));
  const clientFor = (baseUrl: string) => {
    let client = clients.get(baseUrl);
    if (client === undefined) {
      client = createClient(InferenceService, makeTransport(baseUrl));
      clients.set(baseUrl, client);
    }
    return client;
  };
  // target.headers (the attempt's trace context) travel as the call's request headers.
  const callOptions = (signal: AbortSignal, target: ChatTarget) => ({
    signal,
    headers: target.headers,
    timeoutMs: options.timeoutMs > 0 ? options.timeoutMs : undefined,
  });
  const forAgent = (params: ChatParams, target: ChatTarget): ChatParams => ({ ...params, model: target.upstreamModel });

  return {
    async chat(params, target, signal) {
      try {
        const response = await clientFor(target.baseUrl).chat({ params: forAgent(params, target) }, callOptions(signal, target));
        response.backend = target.backend;
        return response;
      } catch (error) {
        if (!signal.aborted && brokeConnection(error)) options.onAgentBroken?.(target.backend);
        throw agentFailure(error, target);
      }
    },
    async *chatStream(params, target, signal): AsyncIterable<ChatStreamResponse> {
      let started = false;
      try {
        for await (const part of clientFor(target.baseUrl).chatStream({ params: forAgent(params, target) }, callOptions(signal, target))) {
          part.backend = target.backend;
          started = true;
          yield part;
        }
      } catch (error) {
        const failure = agentFailure(error, target);
        // Cut off without the client (or a router timeout) asking: the agent is suspect. A killed
        // agent's HTTP/2 stream ends with CANCEL, which reads as Canceled though nobody cancelled.
        const broken = brokeConnection(error) || failure.code === Code.Canceled || (started && failure.code === Code.Unavailable);
        if (!signal.aborted && broken) options.onAgentBroken?.(target.backend);
        throw failure;
      }
    },
    async embed(request, target, signal) {
      try {
        const response = await clientFor(target.baseUrl).embed({ ...request, model: target.upstreamModel }, callOptions(signal, target));
        response.backend = target.backend;
        return response;
      } catch (error) {
        throw agentFailure(error, target);
      }
    },
    async countTokens(params, target, signal) {
      try {
        const counted = await clientFor(target.baseUrl).countTokens({ params: forAgent(params, target) }, callOptions(signal, target));
        return counted.inputTokens;
      } catch (error) {
        throw agentFailure(error, target);
      }
    },
  };
}

/** Whether the call failed in the transport (reset, refused), not with an answer of the agent's. */
function brokeConnection(error: unknown): boolean {
  return describeNetworkError(ConnectError.from(error).cause) !== undefined;
}

/**
 * The agent's own errors pass through; a broken connection (or a crash) names the agent that failed,
 * by id and never by address, and may be retried elsewhere. An agent refusing the router's
 * credentials is the gateway's fault, never the client's 401 or 403.
 */
function agentFailure(error: unknown, target: ChatTarget): ConnectError {
  const connectError = ConnectError.from(error);
  // Only retry-after travels on: the rest of the received metadata are the agent's own response
  // headers (content-type, grpc-status…), which would corrupt the router's answer.
  const metadata = new Headers();
  const retryAfter = connectError.metadata.get("retry-after");
  if (retryAfter !== null) metadata.set("retry-after", retryAfter);
  // Rebuilt rather than rethrown: details received over the wire must be re-encoded to travel on.
  const upstream = findUpstreamError(connectError);
  if (upstream !== undefined) return upstreamConnectError(connectError.code, upstream);
  const gateway = findGatewayError(connectError);
  if (gateway !== undefined) return gatewayConnectError(connectError.code, connectError.rawMessage, gateway, metadata);
  if (connectError.code === Code.Canceled) return new ConnectError(connectError.rawMessage, Code.Canceled, metadata);
  // The transport's own failure (refused, reset, unresolvable) carries the Node error that caused
  // it, whose message names the agent's address: described by its code alone.
  const transportFailure = describeNodeError(connectError.cause);
  if (transportFailure !== undefined) {
    const code = connectError.code === Code.DeadlineExceeded ? Code.DeadlineExceeded : Code.Unavailable;
    return new ConnectError(`agent ${target.backend} failed: ${transportFailure}`, code, metadata);
  }
  if (connectError.code === Code.Unauthenticated || connectError.code === Code.PermissionDenied) {
    return gatewayConnectError(Code.Unavailable, `agent ${target.backend} refused the router's credentials`, { httpStatus: 502, type: "upstream_error", code: "upstream_auth_error" }, metadata);
  }
  const message = redactAddresses(connectError.rawMessage);
  if (connectError.code === Code.Unavailable || connectError.code === Code.Internal || connectError.code === Code.Unknown) {
    return new ConnectError(`agent ${target.backend} failed: ${message}`, Code.Unavailable, metadata);
  }
  return new ConnectError(message, connectError.code, metadata);
}
