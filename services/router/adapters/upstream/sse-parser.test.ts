import test from "ava";
import { createSseParser, type ServerSentEvent } from "./sse-parser.js";

const encoder = new TextEncoder();

function bytesOf(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Feeds the pieces in order, then ends the body; every event, and whether [DONE] came. */
function parse(pieces: readonly Uint8Array[]): { events: ServerSentEvent[]; done: boolean } {
  const parser = createSseParser();
  const events: ServerSentEvent[] = [];
  for (const piece of pieces) events.push(...parser.feed(piece));
  events.push(...parser.end());
  return { events, done: parser.done };
}

function parseText(...pieces: string[]) {
  return parse(pieces.map(bytesOf));
}

function message(data: string, event = "message"): ServerSentEvent {
  return { event, data };
}

// A body with everything the parser must handle: BOM, every line ending, comments, an event name,
// multi-line data, a field without a space, multibyte UTF-8 (2, 3 and 4 bytes) and ignored fields.
const richBody = [
  "\uFEFF: a comment first\r\n",
  "data: {\"a\":1}\r\n\r\n",
  ": keep-alive\n\n",
  "event: ping\ndata: héllo\ndata:日本\ndata\n\n",
  "id: 7\rretry: 1000\rdata:  two spaces\r\r",
  "unknown: field\r\ndata: 🎉\r\ndata: last\r\n",
  "\n",
].join("");
const richEvents = [message('{"a":1}'), message("héllo\n日本\n", "ping"), message(" two spaces"), message("🎉\nlast")];

test("a whole body gives its events in order", (t) => {
  t.deepEqual(parseText(richBody).events, richEvents);
});

test("every split point into two chunks gives the same events, also through CRLF, BOM and UTF-8 characters", (t) => {
  const bytes = bytesOf(richBody);
  for (let cut = 1; cut < bytes.length; cut++) {
    const { events } = parse([bytes.subarray(0, cut), bytes.subarray(cut)]);
    t.deepEqual(events, richEvents, `split at byte ${cut}`);
  }
});

test("every pair of split points into three chunks gives the same events", (t) => {
  const bytes = bytesOf(richBody);
  let mismatches = 0;
  for (let first = 1; first < bytes.length; first++) {
    for (let second = first + 1; second < bytes.length; second++) {
      const { events } = parse([bytes.subarray(0, first), bytes.subarray(first, second), bytes.subarray(second)]);
      if (JSON.stringify(events) !== JSON.stringify(richEvents)) mismatches += 1;
    }
  }
  t.is(mismatches, 0);
});

test("one byte at a time, with empty chunks between, gives the same events", (t) => {
  const bytes = bytesOf(richBody);
  const pieces: Uint8Array[] = [];
  for (let position = 0; position < bytes.length; position++) pieces.push(bytes.subarray(position, position + 1), new Uint8Array(0));
  t.deepEqual(parse(pieces).events, richEvents);
});

test("events come out as soon as their blank line arrives, not at the end", (t) => {
  const parser = createSseParser();
  t.deepEqual(parser.feed(bytesOf("data: a\n")), []);
  t.deepEqual(parser.feed(bytesOf("\ndata: b")), [message("a")]);
  t.deepEqual(parser.feed(bytesOf("\n\n")), [message("b")]);
  t.deepEqual(parser.end(), []);
});

test("a CRLF split across two chunks is one line end, not a CR and then a blank line", (t) => {
  const parser = createSseParser();
  t.deepEqual(parser.feed(bytesOf("data: a\r")), []);
  t.deepEqual(parser.feed(bytesOf("\ndata: b\r")), [], "the LF completing the CRLF must not end the event");
  // A CR at the end of a read may be the first half of a CRLF: the event is complete once the next byte shows which.
  t.deepEqual(parser.feed(bytesOf("\n\r")), []);
  t.deepEqual(parser.feed(bytesOf("\ndata: c\n\n")), [message("a\nb"), message("c")], "the LF completing that CRLF is no second blank line");
});

test("CR-only line endings", (t) => {
  t.deepEqual(parseText("data: a\rdata: b\r\rdata: c\r\r").events, [message("a\nb"), message("c")]);
});

test("a CR at a chunk's end followed by a chunk starting with CR is a blank line", (t) => {
  const parser = createSseParser();
  t.deepEqual(parser.feed(bytesOf("data: a\r")), []);
  t.deepEqual([...parser.feed(bytesOf("\r")), ...parser.feed(bytesOf("data: b\n\n"))], [message("a"), message("b")]);
});

test("a line or an event longer than the limit throws instead of growing the buffer", (t) => {
  const line = createSseParser({ maxLineLength: 1000 });
  t.deepEqual(line.feed(bytesOf(`data: ${"x".repeat(600)}`)), []);
  t.throws(() => line.feed(bytesOf("y".repeat(600))), { name: "SseLineTooLongError" });
  const event = createSseParser({ maxLineLength: 1000 });
  t.deepEqual(event.feed(bytesOf(`data: ${"x".repeat(600)}\n`)), []);
  t.throws(() => event.feed(bytesOf(`data: ${"y".repeat(600)}\n`)), { name: "SseLineTooLongError" });
  const fine = createSseParser({ maxLineLength: 1000 });
  const many = Array.from({ length: 50 }, (_, index) => `data: ${"z".repeat(500)}${index}\n\n`).join("");
  t.is(fine.feed(bytesOf(many)).length, 50, "the limit is per line and event, not per body");
});

test("comments and blank lines alone make no events", (t) => {
  t.deepEqual(parseText(": keep-alive\n\n:\n\n\n\n: OPENROUTER PROCESSING\r\n\r\n").events, []);
});

test("field values: one leading space is dropped, a second kept; a line without a colon is a field with an empty value", (t) => {
  t.deepEqual(parseText("data:x\n\n", "data:  x\n\n", "data\n\n", "data:\n\n").events, [message("x"), message(" x"), message(""), message("")]);
});

test("multi-line data joins with newlines, empty lines included", (t) => {
  t.deepEqual(parseText('data: {"a":\ndata:\ndata: 1}\n\n').events, [message('{"a":\n\n1}')]);
});

test("event names apply to their own event only; an event without data is not dispatched", (t) => {
  const { events } = parseText("event: ping\n\n", "event: update\ndata: x\n\n", "data: y\n\n");
  t.deepEqual(events, [message("x", "update"), message("y")]);
});

test("a leading BOM is ignored, also when split; a BOM later is data", (t) => {
  const bytes = bytesOf("\uFEFFdata: a\n\ndata: \uFEFFb\n\n");
  t.deepEqual(parse([bytes]).events, [message("a"), message("\uFEFFb")]);
  t.deepEqual(parse([bytes.subarray(0, 1), bytes.subarray(1, 2), bytes.subarray(2)]).events, [message("a"), message("\uFEFFb")]);
});

test("multibyte characters split between any of their bytes decode whole", (t) => {
  const text = "é日🎉";
  const bytes = bytesOf(`data: ${text}\n\n`);
  const pieces = Array.from(bytes, (_byte, position) => bytes.subarray(position, position + 1));
  t.deepEqual(parse(pieces).events, [message(text)]);
});

test("[DONE] ends the stream: events before it arrive, bytes after it are ignored", (t) => {
  const parser = createSseParser();
  const events = parser.feed(bytesOf("data: a\n\ndata: [DONE]\n\ndata: b\n\n"));
  t.deepEqual(events, [message("a")]);
  t.true(parser.done);
  t.deepEqual(parser.feed(bytesOf("data: c\n\n")), []);
  t.deepEqual(parser.end(), []);
});

test("[DONE] split across chunks and with CRLF still ends the stream", (t) => {
  const bytes = bytesOf("data: a\r\n\r\ndata: [DONE]\r\n\r\n");
  for (let cut = 1; cut < bytes.length; cut++) {
    const { events, done } = parse([bytes.subarray(0, cut), bytes.subarray(cut)]);
    t.deepEqual(events, [message("a")], `split at ${cut}`);
    t.true(done, `split at ${cut}`);
  }
});

test("only an exact [DONE] is the marker", (t) => {
  const { events, done } = parseText("data: [DONE] \n\n", "data:[DONE]x\n\n");
  t.deepEqual(events, [message("[DONE] "), message("[DONE]x")]);
  t.false(done);
});

test("an event open at the end of the body is delivered by end(), with or without its last line end", (t) => {
  t.deepEqual(parseText("data: a\n\ndata: b").events, [message("a"), message("b")]);
  t.deepEqual(parseText("data: a\n\ndata: b\n").events, [message("a"), message("b")]);
  t.deepEqual(parseText("data: a\n\ndata: b\r").events, [message("a"), message("b")]);
  t.deepEqual(parseText("data: x\ndata: y").events, [message("x\ny")]);
  t.deepEqual(parseText(": only a comment").events, []);
});

test("[DONE] at the end of the body without a blank line still counts", (t) => {
  const { events, done } = parseText("data: a\n\ndata: [DONE]");
  t.deepEqual(events, [message("a")]);
  t.true(done);
});

test("a long line arriving in many pieces is kept whole", (t) => {
  const payload = "x".repeat(100_000);
  const bytes = bytesOf(`data: ${payload}\n\n`);
  const pieces: Uint8Array[] = [];
  for (let start = 0; start < bytes.length; start += 997) pieces.push(bytes.subarray(start, start + 997));
  const { events } = parse(pieces);
  t.is(events.length, 1);
  t.is(events[0]?.data, payload);
});
