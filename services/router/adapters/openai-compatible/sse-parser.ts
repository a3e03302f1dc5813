import { StringDecoder } from "node:string_decoder";

/**
 * An incremental parser for `text/event-stream` bodies, following the WHATWG event-stream rules:
 * LF, CRLF and CR line endings (also when a CRLF is split across two network chunks), comments,
 * `event:` names, multi-line `data:` fields, a leading BOM, and UTF-8 characters split across chunks
 * (a streaming TextDecoder holds the partial bytes). Unlike EventSource, an event still open at EOF
 * is delivered by `end()`, because some upstreams close right after their last `data:` line.
 * `data: [DONE]`, OpenAI's end-of-stream marker, is not an event: it sets `done`.
 *
 * Hot path: it keeps only the unfinished line between chunks, finds line ends with `indexOf` (each
 * character is scanned once, also when a long line arrives in many pieces), and hands out `data` as
 * a slice of the decoded text, with no intermediate buffers.
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

/** A parser for one response body; create one per request. */
export function createSseParser(): SseParser {
  return new IncrementalSseParser();
}

const noEvents: readonly ServerSentEvent[] = Object.freeze([]);
const lineFeed = 10;
const colon = 58;
const space = 32;

class IncrementalSseParser implements SseParser {
  done = false;
  // StringDecoder holds a character split across chunks as TextDecoder's stream mode does, at a
  // seventh of its cost; the leading BOM, which TextDecoder would drop, is dropped in decode().
  private readonly decoder = new StringDecoder("utf8");
  private atStart = true;
  private partialLine = "";
  /** The previous chunk ended with CR: a LF opening the next chunk completes that CRLF. */
  private skipLineFeed = false;
  private data: string | undefined = undefined;
  private eventType = "";

  feed(bytes: Uint8Array): readonly ServerSentEvent[] {
    if (this.done) return noEvents;
    return this.parse(this.decode(this.decoder.write(bytes)));
  }

  end(): readonly ServerSentEvent[] {
    if (this.done) return noEvents;
    const events = [...this.parse(this.decode(this.decoder.end()))];
    const lastLine = this.partialLine;
    this.partialLine = "";
    if (lastLine !== "" && !this.done) this.line(lastLine, 0, lastLine.length);
    const last = this.done ? undefined : this.dispatch();
    if (last !== undefined) events.push(last);
    return events;
  }

  /** Decoded text, less a BOM at the very start of the body. */
  private decode(text: string): string {
    if (!this.atStart || text === "") return text;
    this.atStart = false;
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  }

  private parse(chunk: string): readonly ServerSentEvent[] {
    let position = 0;
    if (this.skipLineFeed && chunk.length > 0) {
      this.skipLineFeed = false;
      if (chunk.charCodeAt(0) === lineFeed) position = 1;
    }
    let text = chunk;
    let searchFrom = position;
    if (this.partialLine !== "") {
      // The kept part holds no line end (it would have been consumed), so the search skips it.
      searchFrom = this.partialLine.length;
      text = this.partialLine + chunk;
    }
    let events: ServerSentEvent[] | undefined;
    let nextLineFeed = text.indexOf("\n", searchFrom);
    let nextCarriageReturn = text.indexOf("\r", searchFrom);
    while (nextLineFeed >= 0 || nextCarriageReturn >= 0) {
      const lineStart = position;
      let lineEnd: number;
      if (nextCarriageReturn < 0 || (nextLineFeed >= 0 && nextLineFeed < nextCarriageReturn)) {
        lineEnd = nextLineFeed;
        position = lineEnd + 1;
        nextLineFeed = text.indexOf("\n", position);
      } else {
        lineEnd = nextCarriageReturn;
        position = lineEnd + 1;
        if (position === text.length) this.skipLineFeed = true;
        else if (text.charCodeAt(position) === lineFeed) position += 1;
        if (nextLineFeed >= 0 && nextLineFeed < position) nextLineFeed = text.indexOf("\n", position);
        nextCarriageReturn = text.indexOf("\r", position);
      }
      const event = this.line(text, lineStart, lineEnd);
      if (event !== undefined) (events ??= []).push(event);
      if (this.done) {
        this.partialLine = "";
        return events ?? noEvents;
      }
    }
    this.partialLine = position === 0 ? text : text.slice(position);
    return events ?? noEvents;
  }

  /** Interprets one line (without its line end); a blank line completes an event. */
  private line(text: string, start: number, end: number): ServerSentEvent | undefined {
    if (start === end) return this.dispatch();
    if (text.charCodeAt(start) === colon) return undefined;
    let nameEnd = text.indexOf(":", start);
    let valueStart: number;
    if (nameEnd < 0 || nameEnd > end) {
      nameEnd = end;
      valueStart = end;
    } else {
      valueStart = nameEnd + 1;
      if (valueStart < end && text.charCodeAt(valueStart) === space) valueStart += 1;
    }
    const nameLength = nameEnd - start;
    if (nameLength === 4 && text.startsWith("data", start)) {
      const value = text.slice(valueStart, end);
      this.data = this.data === undefined ? value : `${this.data}\n${value}`;
    } else if (nameLength === 5 && text.startsWith("event", start)) {
      this.eventType = text.slice(valueStart, end);
    }
    // `id` and `retry` steer EventSource reconnection, which a proxy never does; other fields are ignored by the rules.
    return undefined;
  }

  private dispatch(): ServerSentEvent | undefined {
    const data = this.data;
    const eventType = this.eventType;
    this.data = undefined;
    this.eventType = "";
    if (data === undefined) return undefined;
    if (data === "[DONE]") {
      this.done = true;
      return undefined;
    }
    return { event: eventType === "" ? "message" : eventType, data };
  }
}
