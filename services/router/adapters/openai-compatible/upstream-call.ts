import { Code, ConnectError } from "@connectrpc/connect";
import type { ChatResponse } from "../../../../gen/iir/inference/v1/inference_pb.js";
import { connectErrorFromNodeError, nodeErrorCode } from "../../../common/errors.js";
import type { ChatTarget } from "../adapter.js";
import { chatResponseFromOpenAI } from "./convert-from-openai-response.js";
import { Http1TimeoutError, type Http1Handlers, type Http1Pool, type Http1Request, type Http1ResponseHead } from "./http1-pool.js";
import { connectErrorFromUpstreamResponse } from "./openai-error.js";
import { endpointOf, requestHead, type Endpoint } from "./upstream-request-head.js";
import { redactSecrets, upstreamErrorContext } from "./upstream-secrets.js";

// Error bodies are read only to quote the provider; a runaway body stops here.
const maximumErrorBodyBytes = 64 * 1024;
// Non-stream answers are buffered whole; a larger one is a broken upstream, not an answer.
const maximumAnswerBytes = 64 * 1024 * 1024;

/**
 * One request to the upstream, as the pool's handlers: a non-2xx answer is read (up to a limit) and
 * becomes the provider's error; a 2xx answer goes to the subclass. The client's abort closes the
 * upstream request until the answer is complete.
 */
export abstract class UpstreamCall implements Http1Handlers {
  protected request: Http1Request | undefined;
  /** Set once the call has its outcome: nothing after that is reported. */
  protected settled = false;
  private errorStatus = 0;
  private errorHeaders: Readonly<Record<string, string>> | undefined;
  private errorBody: Buffer[] | undefined;
  private errorSize = 0;
  private readonly onAbort = () => {
    this.request?.abort();
    this.fail(upstreamFailure(undefined, this.target, this.signal));
  };

  constructor(
    private readonly pool: Http1Pool,
    protected readonly target: ChatTarget,
    protected readonly signal: AbortSignal,
    protected readonly timeoutMs: number,
  ) {}

  start(body: string): void {
    if (this.signal.aborted) {
      this.fail(upstreamFailure(undefined, this.target, this.signal));
      return;
    }
    let head: string;
    let endpoint: Endpoint;
    try {
      endpoint = endpointOf(this.target.baseUrl);
      head = requestHead(endpoint, this.target, Buffer.byteLength(body));
    } catch (error) {
      this.fail(upstreamFailure(error, this.target, this.signal));
      return;
    }
    this.signal.addEventListener("abort", this.onAbort);
    this.request = this.pool.request(endpoint, head, body, this);
  }

  onHead(head: Http1ResponseHead): void {
    if (head.status >= 200 && head.status < 300) this.answerHead(head);
    else {
      this.errorStatus = head.status;
      this.errorHeaders = head.headers;
      this.errorBody = [];
    }
  }

  onData(bytes: Buffer): void {
    if (this.errorBody === undefined) {
      this.answerData(bytes);
      return;
    }
    if (this.errorSize + bytes.length > maximumErrorBodyBytes) {
      this.request?.abort();
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
    const error = connectErrorFromUpstreamResponse(this.errorStatus, text, upstreamErrorContext(this.target));
    // The facade answers a 429 with the provider's own Retry-After, read from the error's metadata.
    const retryAfter = this.errorHeaders?.["retry-after"];
    if (retryAfter !== undefined && retryAfter !== "") error.metadata.set("retry-after", retryAfter);
    this.fail(error);
  }

  onError(error: Error, phase: "head" | "body"): void {
    if (error instanceof Http1TimeoutError) {
      const what = phase === "head" ? `did not answer within ${this.timeoutMs} ms` : `went silent for ${this.timeoutMs} ms`;
      this.fail(new ConnectError(`${this.target.provider} upstream ${what}`, Code.DeadlineExceeded));
      return;
    }
    // An error page cut short still says what the provider had to say.
    if (this.errorBody !== undefined && phase === "body") {
      this.onEnd();
      return;
    }
    this.fail(upstreamFailure(error, this.target, this.signal));
  }

  /** The answer arrived in full: a later abort of the client's signal leaves the connection alone. */
  protected detach(): void {
    this.signal.removeEventListener("abort", this.onAbort);
  }

  /** Reports the call's failure once, and stops listening to the client's signal. */
  protected fail(error: ConnectError): void {
    if (this.settled) return;
    this.settled = true;
    this.detach();
    this.failed(error);
  }

  protected abstract answerHead(head: Http1ResponseHead): void;
  protected abstract answerData(bytes: Buffer): void;
  protected abstract answerEnd(): void;
  protected abstract failed(error: ConnectError): void;
}

/** A whole answer: its body read in full, then translated. */
export class UnaryCall extends UpstreamCall {
  private readonly body = new AnswerBody();

  constructor(
    pool: Http1Pool,
    target: ChatTarget,
    signal: AbortSignal,
    timeoutMs: number,
    private readonly resolve: (response: ChatResponse) => void,
    private readonly reject: (error: ConnectError) => void,
  ) {
    super(pool, target, signal, timeoutMs);
  }

  protected answerHead(): void {}

  protected answerData(bytes: Buffer): void {
    if (this.body.add(bytes)) return;
    this.request?.abort();
    this.fail(tooLarge(this.target));
  }

  protected answerEnd(): void {
    if (this.settled) return;
    this.settled = true;
    this.detach();
    try {
      this.resolve(this.body.response(this.target));
    } catch (error) {
      this.reject(upstreamFailure(error, this.target, this.signal));
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
  response(target: ChatTarget): ChatResponse {
    const text = this.chunks.length === 1 ? this.chunks[0]!.toString("utf8") : Buffer.concat(this.chunks, this.size).toString("utf8");
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new ConnectError(`${target.provider} upstream returned malformed response: the body is not JSON`, Code.Unavailable);
    }
    return chatResponseFromOpenAI(json, target);
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
export function upstreamFailure(error: unknown, target: ChatTarget, signal: AbortSignal): ConnectError {
  if (error instanceof ConnectError) return error;
  if (signal.aborted) return new ConnectError("the client canceled the request", Code.Canceled);
  const nodeCode = nodeErrorCode(error);
  // A socket cut while the body streams: the upstream dropped us mid-answer.
  if (nodeCode === "ECONNRESET" || (error as Error | undefined)?.message === "aborted") {
    return new ConnectError(`${target.provider} upstream dropped the connection mid-answer`, Code.Unavailable);
  }
  // Without a Node code the error is the HTTP client's own (a malformed response): its words are
  // ours, and what it quotes of the upstream's bytes is redacted like any upstream text.
  if (nodeCode === undefined && error instanceof Error && error.name === "Error") {
    const reason = redactSecrets(error.message, upstreamErrorContext(target).secrets);
    return new ConnectError(`${target.provider}: ${reason}`, Code.Unavailable);
  }
  return connectErrorFromNodeError(error, `${target.provider} upstream is unreachable`);
}
