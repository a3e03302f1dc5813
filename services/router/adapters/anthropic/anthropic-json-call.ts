import { Code, ConnectError } from "@connectrpc/connect";
import { upstreamFailure, UpstreamCall, type UpstreamCallContext } from "../upstream/upstream-call.js";

// A token count is a few bytes; a larger answer is a broken upstream.
const maximumBodyBytes = 1024 * 1024;

/**
 * A call whose answer is plain JSON rather than a completion (`count_tokens`): the shared call's
 * request, error reading, timeouts and cancellation, with the body handed over parsed.
 */
export class JsonCall extends UpstreamCall {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(
    call: UpstreamCallContext,
    private readonly resolve: (json: unknown) => void,
    private readonly reject: (error: ConnectError) => void,
  ) {
    super(call);
  }

  protected answerHead(): void {}

  protected answerData(bytes: Buffer): void {
    if (this.size + bytes.length <= maximumBodyBytes) {
      this.size += bytes.length;
      this.chunks.push(bytes);
      return;
    }
    this.exchange?.abort();
    this.fail(new ConnectError(`${this.target.provider} upstream answer is larger than ${maximumBodyBytes} bytes`, Code.Unavailable));
  }

  protected answerEnd(): void {
    if (this.settled) return;
    this.settled = true;
    this.detach();
    try {
      this.resolve(JSON.parse(Buffer.concat(this.chunks, this.size).toString("utf8")));
    } catch {
      this.reject(upstreamFailure(new ConnectError(`${this.target.provider} upstream returned malformed response: the body is not JSON`, Code.Unavailable), this.target, this.call.signal));
    }
  }

  protected failed(error: ConnectError): void {
    this.reject(error);
  }
}
