import { Code, ConnectError } from "@connectrpc/connect";
import type { ChatParams, ChatResponse } from "../../../../gen/iir/inference/v1/inference_pb.js";
import { connectErrorFromNodeError, gatewayConnectError, nodeErrorCode } from "../../../common/errors.js";
import type { ChatTarget } from "../adapter.js";
import type { UpstreamClient, UpstreamExchange, UpstreamHandlers, UpstreamHeaders } from "./upstream-client.js";
import type { UpstreamProtocol } from "./upstream-protocol.js";
import { redactSecrets, upstreamErrorContext } from "./upstream-secrets.js";

// Error bodies are read only to quote the provider; a runaway body stops here.
const maximumErrorBodyBytes = 64 * 1024;
// Non-stream answers are buffered whole; a larger one is a broken upstream, not an answer.
const maximumAnswerBytes = 64 * 1024 * 1024;

/** What every call to an upstream needs: the shared client, the provider's wire format, the request. */
export interface UpstreamCallContext {
  readonly client: UpstreamClient;
  readonly protocol: UpstreamProtocol;
  readonly params: ChatParams;
  readonly target: ChatTarget;
  readonly signal: AbortSignal;
  /** The client's timeout on silence, for messages. */
  readonly timeoutMs: number;
}

/**
 * One request to the upstream, as the client's handlers: a non-2xx answer is read (up to a limit) and
 * becomes the provider's error; a 2xx answer goes to the subclass. The client's abort closes the
 * upstream request until the answer is complete.
 */
export abstract class UpstreamCall implements UpstreamHandlers {
  protected exchange: UpstreamExchange | undefined;
  /** Set once the call has its outcome: nothing after that is reported. */
  protected settled = false;
  protected readonly target: ChatTarget;
  protected readonly protocol: UpstreamProtocol;
  private errorStatus = 0;
  private errorHeaders: UpstreamHeaders | undefined;
  private errorBody: Buffer[] | undefined;
  private errorSize = 0;
  private readonly onAbort = () => {
    this.exchange?.abort();
    this.fail(upstreamFailure(undefined, this.target, this.call.signal));
  };

  constructor(protected readonly call: UpstreamCallContext) {
    this.target = call.target;
    this.protocol = call.protocol;
  }

  /** Sends the request (streamed or not); a failure to build it fails the call. */
  start(stream: boolean): void {
    const signal = this.call.signal;
    if (signal.aborted) {
      this.fail(upstreamFailure(undefined, this.target, signal));
      return;
    }
    let request;
    try {
      request = this.protocol.request(this.call.params, this.target, stream);
    } catch (error) {
      this.fail(upstreamFailure(error, this.target, signal));
      return;
    }
    signal.addEventListener("abort", this.onAbort);
    this.exchange = this.call.client.send(request, this);
  }

  onHead(status: number, headers: UpstreamHeaders): void {
    if (status >= 200 && status < 300) this.answerHead(headers);
    else {
      this.errorStatus = status;
      this.errorHeaders = headers;
      this.errorBody = [];
    }
  }

  onData(bytes: Buffer): void {
    if (this.errorBody === undefined) {
      this.answerData(bytes);
      return;
    }
    if (this.errorSize + bytes.length > maximumErrorBodyBytes) {
      this.exchange?.abort();
      this.onEnd();
      return;
    }
    this.errorSize += bytes.length;
    this.errorBody.push(bytes);
  }

  onEnd(): void {
    if (this.errorBody === undefined) {
      this.answerEnd();
      return;
    }
    const text = Buffer.concat(this.errorBody, this.errorSize).toString("utf8");
    const error = this.protocol.errorResponse(this.errorStatus, text, this.errorHeaders ?? {}, this.target);
    // The facade answers a 429 with the provider's own Retry-After, read from the error's metadata.
    const retryAfter = headerValue(this.errorHeaders, "retry-after");
    if (retryAfter !== undefined && retryAfter !== "") error.metadata.set("retry-after", retryAfter);
    this.fail(error);
  }

  onError(error: Error, phase: "head" | "body"): void {
    // An error page cut short still says what the provider had to say.
    if (this.errorBody !== undefined && phase === "body" && !isTimeout(error)) {
      this.onEnd();
      return;
    }
    this.fail(upstreamFailure(error, this.target, this.call.signal, this.call.timeoutMs));
  }

  /** The answer arrived in full: a later abort of the client's signal leaves the connection alone. */
  protected detach(): void {
    this.call.signal.removeEventListener("abort", this.onAbort);
  }

  /** Reports the call's failure once, and stops listening to the client's signal. */
  protected fail(error: ConnectError): void {
    if (this.settled) return;
    this.settled = true;
    this.detach();
    this.failed(error);
  }

  protected abstract answerHead(headers: UpstreamHeaders): void;
  protected abstract answerData(bytes: Buffer): void;
  protected abstract answerEnd(): void;
  protected abstract failed(error: ConnectError): void;
}

/** A header's value; a repeated one joined as HTTP joins them. */
export function headerValue(headers: UpstreamHeaders | undefined, name: string): string | undefined {
  const value = headers?.[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

/** A whole answer: its body read in full, then translated. */
export class UnaryCall extends UpstreamCall {
  private readonly body = new AnswerBody();

  constructor(
    call: UpstreamCallContext,
    private readonly resolve: (response: ChatResponse) => void,
    private readonly reject: (error: ConnectError) => void,
  ) {
    super(call);
  }

  protected answerHead(): void {}

  protected answerData(bytes: Buffer): void {
    if (this.body.add(bytes)) return;
    this.exchange?.abort();
    this.fail(tooLarge(this.target));
  }

  protected answerEnd(): void {
    if (this.settled) return;
    this.settled = true;
    this.detach();
    try {
      this.resolve(this.body.response(this.protocol, this.target));
    } catch (error) {
      this.reject(upstreamFailure(error, this.target, this.call.signal));
    }
  }

  protected failed(error: ConnectError): void {
    this.reject(error);
  }
}

/** An answer's body bytes, refused past `maximumAnswerBytes`. */
export class AnswerBody {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  /** Keeps the bytes; false when they take the body past the limit. */
  add(bytes: Buffer): boolean {
    if (this.size + bytes.length > maximumAnswerBytes) return false;
    this.size += bytes.length;
    this.chunks.push(bytes);
    return true;
  }

  /** The body as the contract's response; throws Unavailable for a body that is not a completion. */
  response(protocol: UpstreamProtocol, target: ChatTarget): ChatResponse {
    const text = this.chunks.length === 1 ? this.chunks[0]!.toString("utf8") : Buffer.concat(this.chunks, this.size).toString("utf8");
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new ConnectError(`${target.provider} upstream returned malformed response: the body is not JSON`, Code.Unavailable);
    }
    return protocol.response(json, target);
  }
}

/** The error for an answer past the limit. */
export function tooLarge(target: ChatTarget): ConnectError {
  return new ConnectError(`${target.provider} upstream answer is larger than ${maximumAnswerBytes} bytes`, Code.Unavailable);
}

/**
 * One Connect error for whatever went wrong talking to the upstream. Messages name the provider,
 * never the base URL: it may carry credentials (`https://user:secret@host`) and names an address.
 */
export function upstreamFailure(error: unknown, target: ChatTarget, signal: AbortSignal, timeoutMs?: number): ConnectError {
  if (error instanceof ConnectError) return error;
  if (signal.aborted) return new ConnectError("the client canceled the request", Code.Canceled);
  const provider = target.provider;
  const nodeCode = nodeErrorCode(error);
  switch (nodeCode) {
    case "UND_ERR_HEADERS_TIMEOUT":
      return new ConnectError(`${provider} upstream did not answer within ${timeoutMs} ms`, Code.DeadlineExceeded);
    case "UND_ERR_BODY_TIMEOUT":
      return new ConnectError(`${provider} upstream went silent for ${timeoutMs} ms`, Code.DeadlineExceeded);
    case "UND_ERR_CONNECT_TIMEOUT":
      // Unavailable, not DeadlineExceeded: nothing was sent, and the next backend should be tried at once.
      return new ConnectError(`${provider} upstream could not be reached: connecting timed out`, Code.Unavailable);
    case "UND_ERR_SOCKET":
    case "ECONNRESET":
    case "EPIPE":
      return new ConnectError(`${provider} upstream dropped the connection mid-answer`, Code.Unavailable);
    case "UND_ERR_ABORTED":
      return new ConnectError("the client canceled the request", Code.Canceled);
    case "UND_ERR_INVALID_ARG":
      // undici names the header it refused, never its value (which may be a secret).
      return new ConnectError(`${provider} upstream: the request is not valid HTTP: ${(error as Error).message}`, Code.Internal);
  }
  // The HTTP parser's refusals (HPE_…) and undici's framing errors: the upstream's answer is not
  // valid HTTP. Their words are the library's; what they quote of the upstream is redacted.
  if ((error as Error | undefined)?.name === "HTTPParserError" || nodeCode?.startsWith("HPE_") || nodeCode?.startsWith("UND_ERR_RES_") || nodeCode === "UND_ERR_HEADERS_OVERFLOW" || nodeCode === "UND_ERR_INFO") {
    const reason = redactSecrets((error as Error).message, upstreamErrorContext(target).secrets);
    // 502, as HTTP has it for an invalid answer from upstream; Unavailable, so a fallback may answer.
    return gatewayConnectError(Code.Unavailable, `${provider} upstream sent a malformed HTTP answer: ${reason}`, { httpStatus: 502, type: "upstream_error", code: "upstream_malformed_response" });
  }
  if (nodeCode === undefined && error instanceof Error && (error.name === "SseLineTooLongError" || error.name === "Error")) {
    const reason = redactSecrets(error.message, upstreamErrorContext(target).secrets);
    return new ConnectError(`${provider}: ${reason}`, Code.Unavailable);
  }
  return connectErrorFromNodeError(error, `${provider} upstream is unreachable`);
}

function isTimeout(error: Error): boolean {
  const code = nodeErrorCode(error);
  return code === "UND_ERR_BODY_TIMEOUT" || code === "UND_ERR_HEADERS_TIMEOUT";
}
