import { StringDecoder } from "node:string_decoder";
import { createParser, type EventSourceParser } from "eventsource-parser";

/**
 * An incremental decoder of `text/event-stream` bodies on eventsource-parser, which follows the
 * WHATWG rules (LF, CRLF and CR line endings, also split across reads; comments; `event:` names;
 * multi-line `data:`). Around it: UTF-8 characters split across reads (StringDecoder), a leading BOM,
 * an event still open at EOF (delivered by `end()`, because some upstreams close right after their
 * last `data:` line), and OpenAI's end-of-stream marker `data: [DONE]`, which is not an event: it sets `done`.
 *
 * A line, or an event's data, longer than `maxLineLength` characters throws SseLineTooLongError
 * (eventsource-parser's buffer limit): an upstream that never ends a line would otherwise grow the
 * buffer until the process runs out of memory.
 */
export interface SseParser {
  /** Events completed by these bytes, in order. */
  feed(bytes: Uint8Array): readonly ServerSentEvent[];
  /** Events completed by the end of the body: the last line and event even without a blank line. */
  end(): readonly ServerSentEvent[];
  /** Whether `data: [DONE]` arrived; later bytes are ignored. */
  readonly done: boolean;
}

/** One server-sent event. */
export interface ServerSentEvent {
  /** The `event:` field; "message" when the event named none. */
  readonly event: string;
  /** The event's `data:` lines joined with "\n". */
  readonly data: string;
}

/** A line or an event past the parser's limit. */
export class SseLineTooLongError extends Error {
  override readonly name = "SseLineTooLongError";
}

// Tool-call arguments and images arrive in single events of a few megabytes at most.
const defaultMaxLineLength = 8 * 1024 * 1024;

/** A parser for one response body; create one per request. */
export function createSseParser(options: { maxLineLength?: number } = {}): SseParser {
  return new LimitedSseParser(options.maxLineLength ?? defaultMaxLineLength);
}

const noEvents: readonly ServerSentEvent[] = Object.freeze([]);

class LimitedSseParser implements SseParser {
  done = false;
  // StringDecoder holds a character split across reads as TextDecoder's stream mode does, at a
  // seventh of its cost; the leading BOM, which TextDecoder would drop, is dropped in decode().
  private readonly decoder = new StringDecoder("utf8");
  private atStart = true;
  private events: ServerSentEvent[] = [];
  private overflow = false;
  private readonly parser: EventSourceParser;

  constructor(private readonly maxLineLength: number) {
    this.parser = createParser({
      maxBufferSize: maxLineLength,
      onEvent: (event) => {
        if (this.done) return;
        if (event.data === "[DONE]") this.done = true;
        else this.events.push({ event: event.event || "message", data: event.data });
      },
      // Unknown fields and bad `retry:` values are ignored, as the rules say; only the limit is an error.
      onError: (error) => {
        if (error.type === "max-buffer-size-exceeded") this.overflow = true;
      },
    });
  }

  feed(bytes: Uint8Array): readonly ServerSentEvent[] {
    if (this.done) return noEvents;
    return this.parse(this.decode(this.decoder.write(bytes as Buffer)));
  }

  end(): readonly ServerSentEvent[] {
    if (this.done) return noEvents;
    // A blank line ends whatever line and event were still open.
    return this.parse(`${this.decode(this.decoder.end())}\n\n`);
  }

  /** Decoded text, less a BOM at the very start of the body. */
  private decode(text: string): string {
    if (!this.atStart || text === "") return text;
    this.atStart = false;
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  }

  private parse(text: string): readonly ServerSentEvent[] {
    if (text !== "") this.parser.feed(text);
    if (this.overflow) {
      this.events = [];
      throw new SseLineTooLongError(`the event stream sent a line or event longer than ${this.maxLineLength} characters`);
    }
    const events = this.events;
    if (events.length === 0) return noEvents;
    this.events = [];
    return events;
  }
}
