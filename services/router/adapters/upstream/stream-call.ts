import { Code, ConnectError } from "@connectrpc/connect";
import type { ChatResponse, ChatStreamResponse } from "../../../../gen/iir/inference/v1/inference_pb.js";
import type { BatchingIterator } from "../../../common/async-iterables.js";
import { partsFromChatResponse } from "../../../common/chat-response-parts.js";
import { createSseParser, type ServerSentEvent, type SseParser } from "./sse-parser.js";
import { AnswerBody, headerValue, tooLarge, upstreamFailure, UpstreamCall } from "./upstream-call.js";
import type { UpstreamHeaders } from "./upstream-client.js";
import type { UpstreamStreamState } from "./upstream-protocol.js";

// Parts waiting for a slow reader before the upstream connection stops being read.
const streamHighWater = 1024;

/**
 * A streamed answer, as the async iterator the router reads: parts are queued as each upstream read
 * is parsed and handed over one at a time or all at once (`nextBatch`). The request starts on the
 * first read. A reader that falls behind pauses the upstream connection.
 */
export class StreamCall extends UpstreamCall implements BatchingIterator<ChatStreamResponse> {
  private queue: ChatStreamResponse[] = [];
  private position = 0;
  private finished = false;
  private error: ConnectError | undefined;
  private waiter: { resolve(result: IteratorResult<ChatStreamResponse> | IteratorResult<readonly ChatStreamResponse[]>): void; reject(error: unknown): void; batch: boolean } | undefined;
  private started = false;
  private paused = false;
  private wakeScheduled = false;
  /** Set for an SSE answer; a JSON answer (a server that ignored `stream`) is collected in `json`. */
  private parser: SseParser | undefined;
  private state: UpstreamStreamState | undefined;
  private json: AnswerBody | undefined;

  next(): Promise<IteratorResult<ChatStreamResponse>> {
    if (this.position < this.queue.length) {
      const value = this.queue[this.position++]!;
      this.drained();
      return Promise.resolve({ done: false, value });
    }
    return this.wait(false) as Promise<IteratorResult<ChatStreamResponse>>;
  }

  nextBatch(): Promise<IteratorResult<readonly ChatStreamResponse[]>> {
    if (this.position < this.queue.length) return Promise.resolve({ done: false, value: this.takeAll() });
    return this.wait(true) as Promise<IteratorResult<readonly ChatStreamResponse[]>>;
  }

  /** The reader left early: an answer still coming is cut, so the upstream stops generating for nobody. */
  return(value?: unknown): Promise<IteratorResult<ChatStreamResponse>> {
    if (!this.settled) {
      this.settled = true;
      this.detach();
      this.exchange?.abort();
    }
    this.finished = true;
    this.queue = [];
    this.position = 0;
    return Promise.resolve({ done: true, value: value as ChatStreamResponse });
  }

  private wait(batch: boolean): Promise<IteratorResult<ChatStreamResponse> | IteratorResult<readonly ChatStreamResponse[]>> {
    if (this.error !== undefined) return Promise.reject(this.error);
    if (this.finished) return Promise.resolve({ done: true, value: undefined });
    if (!this.started) {
      this.started = true;
      try {
        this.start(true);
      } catch (error) {
        this.fail(upstreamFailure(error, this.target, this.call.signal));
      }
      if (this.error !== undefined) return Promise.reject(this.error);
    }
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject, batch };
    });
  }

  private takeAll(): readonly ChatStreamResponse[] {
    const parts = this.position === 0 ? this.queue : this.queue.slice(this.position);
    this.queue = [];
    this.position = 0;
    this.drained();
    return parts;
  }

  private drained(): void {
    if (this.paused && this.queue.length - this.position < streamHighWater / 2) {
      this.paused = false;
      this.exchange?.resume();
    }
  }

  /**
   * Queues parts; a waiting reader is woken once the read that produced them is fully parsed (a
   * microtask later), so it gets every part of that read in one batch. One upstream read often
   * holds several pieces of a chunked body (the first event alone, then the rest), each parsed on
   * its own; woken at the first, the reader took it alone and everything after it went through
   * every layer, and out of the router, a second time.
   */
  private push(parts: ChatStreamResponse[]): void {
    if (parts.length === 0 || this.finished) return;
    if (this.position === this.queue.length) {
      this.queue = parts;
      this.position = 0;
    } else {
      for (const part of parts) this.queue.push(part);
    }
    if (this.waiter !== undefined && !this.wakeScheduled) {
      this.wakeScheduled = true;
      queueMicrotask(this.wake);
    }
    if (!this.paused && this.queue.length - this.position >= streamHighWater) {
      this.paused = true;
      this.exchange?.pause();
    }
  }

  /** Hands what is queued to the waiting reader (the end or an error, if they came, wait for its next call). */
  private readonly wake = (): void => {
    this.wakeScheduled = false;
    const waiter = this.waiter;
    if (waiter === undefined || this.position >= this.queue.length) return;
    this.waiter = undefined;
    if (waiter.batch) {
      waiter.resolve({ done: false, value: this.takeAll() });
      return;
    }
    const value = this.queue[this.position++]!;
    this.drained();
    waiter.resolve({ done: false, value });
  };

  /** The stream is over (the reader gets what is queued first). */
  private finish(): void {
    if (this.settled) return;
    this.settled = true;
    this.detach();
    this.finished = true;
    const waiter = this.waiter;
    if (waiter !== undefined && this.position >= this.queue.length) {
      this.waiter = undefined;
      waiter.resolve({ done: true, value: undefined });
    }
  }

  protected failed(error: ConnectError): void {
    this.error = error;
    this.finished = true;
    const waiter = this.waiter;
    if (waiter !== undefined && this.position >= this.queue.length) {
      this.waiter = undefined;
      waiter.reject(error);
    }
  }

  protected answerHead(headers: UpstreamHeaders): void {
    // Some servers ignore `stream: true` and answer (or fail) with one JSON body: replay it as parts.
    if (headerValue(headers, "content-type")?.startsWith("application/json")) this.json = new AnswerBody();
    else {
      this.parser = createSseParser();
      this.state = this.protocol.streamState(this.target);
    }
  }

  protected answerData(bytes: Buffer): void {
    if (this.settled) return;
    const json = this.json;
    if (json !== undefined) {
      if (!json.add(bytes)) {
        this.exchange?.abort();
        this.fail(tooLarge(this.target));
      }
      return;
    }
    const parser = this.parser!;
    let events: readonly ServerSentEvent[];
    try {
      events = parser.feed(bytes);
    } catch (error) {
      this.exchange?.abort();
      this.fail(upstreamFailure(error, this.target, this.call.signal));
      return;
    }
    this.deliver(events);
    // After `[DONE]` the rest of the body (often just the chunked terminator, in a later packet) is
    // left to drain, so the connection goes back to the pool.
    if (parser.done && !this.settled) this.finish();
  }

  protected answerEnd(): void {
    if (this.settled) return;
    const json = this.json;
    if (json !== undefined) {
      let response: ChatResponse;
      try {
        response = json.response(this.protocol, this.target);
      } catch (error) {
        this.fail(upstreamFailure(error, this.target, this.call.signal));
        return;
      }
      this.push(partsFromChatResponse(response));
      this.finish();
      return;
    }
    const parser = this.parser!;
    let events: readonly ServerSentEvent[];
    try {
      events = parser.end();
    } catch (error) {
      this.fail(upstreamFailure(error, this.target, this.call.signal));
      return;
    }
    this.deliver(events);
    if (this.settled) return;
    if (!parser.done && !this.state!.finished) {
      this.fail(new ConnectError(`${this.target.provider} upstream closed the stream before it finished`, Code.Unavailable));
      return;
    }
    this.finish();
  }

  /** Parts of the events before a bad one still reach the reader, then the error does. */
  private deliver(events: readonly ServerSentEvent[]): void {
    if (events.length === 0) return;
    const state = this.state!;
    let parts: ChatStreamResponse[] | undefined;
    try {
      for (const event of events) {
        const eventParts = state.partsFromEvent(event);
        if (parts === undefined) parts = eventParts;
        else for (const part of eventParts) parts.push(part);
      }
    } catch (error) {
      if (parts !== undefined) this.push(parts);
      this.exchange?.abort();
      this.fail(upstreamFailure(error, this.target, this.call.signal));
      return;
    }
    if (parts !== undefined) this.push(parts);
  }
}

