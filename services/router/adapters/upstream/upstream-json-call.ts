import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ChatParamsSchema, type ChatParams } from "../../../../gen/iir/inference/v1/inference_pb.js";
import type { ChatTarget } from "../adapter.js";
import { UpstreamCall, upstreamFailure } from "./upstream-call.js";
import type { UpstreamClient, UpstreamRequest } from "./upstream-client.js";
import type { UpstreamProtocol } from "./upstream-protocol.js";

/** One JSON call to a provider besides a completion (embeddings, a token count). */
export interface UpstreamJsonCallOptions<T> {
  readonly client: UpstreamClient;
  readonly timeoutMs: number;
  readonly request: UpstreamRequest;
  /** Reads the 2xx answer's JSON; throws a ConnectError for one that is not the expected shape. */
  readonly parse: (json: unknown) => T;
  readonly target: ChatTarget;
  readonly signal: AbortSignal;
  readonly params?: ChatParams;
  /** The provider's error mapper for a non-2xx answer (UpstreamProtocol.errorResponse). */
  readonly errorResponse: UpstreamProtocol["errorResponse"];
}

/**
 * Sends one JSON request through the shared upstream call (its errors, timeouts, cancellation and
 * limits on error bodies are those of chat) and parses the answer with `parse`.
 */
export function upstreamJsonCall<T>(options: UpstreamJsonCallOptions<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    new JsonCall(options, resolve, reject).start(false);
  });
}

// Embeddings as JSON text are large (~20 bytes a number): 2048 vectors of 3072 are ~125 MB.
const maximumAnswerBytes = 256 * 1024 * 1024;

class JsonCall<T> extends UpstreamCall {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(
    private readonly options: UpstreamJsonCallOptions<T>,
    private readonly resolve: (value: T) => void,
    private readonly reject: (error: ConnectError) => void,
  ) {
    // The shared call speaks in chat terms: here its protocol only builds the request and maps error
    // bodies; this class reads the answer, so `response` and `streamState` never run.
    const protocol: UpstreamProtocol = {
      request: () => options.request,
      response: () => {
        throw new ConnectError("this answer is read by its own call", Code.Internal);
      },
      streamState: () => {
        throw new ConnectError("this call is never streamed", Code.Internal);
      },
      errorResponse: options.errorResponse,
    };
    super({ client: options.client, protocol, params: options.params ?? create(ChatParamsSchema), target: options.target, signal: options.signal, timeoutMs: options.timeoutMs });
  }

  protected answerHead(): void {}

  protected answerData(bytes: Buffer): void {
    if (this.size + bytes.length <= maximumAnswerBytes) {
      this.size += bytes.length;
      this.chunks.push(bytes);
      return;
    }
    this.exchange?.abort();
    this.fail(new ConnectError(`${this.target.provider} upstream answer is larger than ${maximumAnswerBytes} bytes`, Code.Unavailable));
  }

  protected answerEnd(): void {
    if (this.settled) return;
    this.settled = true;
    this.detach();
    try {
      let json: unknown;
      try {
        json = JSON.parse(Buffer.concat(this.chunks, this.size).toString("utf8"));
      } catch {
        throw new ConnectError(`${this.target.provider} upstream returned malformed response: the body is not JSON`, Code.Unavailable);
      }
      this.resolve(this.options.parse(json));
    } catch (error) {
      this.reject(upstreamFailure(error, this.target, this.call.signal));
    }
  }

  protected failed(error: ConnectError): void {
    this.reject(error);
  }
}
