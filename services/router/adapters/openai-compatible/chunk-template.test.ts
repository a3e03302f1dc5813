import test from "ava";
import type { ChatTarget } from "../adapter.js";
import { learnChunkTemplate } from "./chunk-template.js";
import { createOpenAIStreamState } from "./openai-stream-state.js";

const target: ChatTarget = { backend: "openai", provider: "openai", baseUrl: "http://127.0.0.1:1/v1", apiKey: "sk-secret", upstreamModel: "gpt-4o-mini" };

type Outcome = { parts: unknown } | { error: string };

/** Every event's parts (or error) through one stream's translator, as the adapter reads a stream. */
function throughStream(events: readonly string[]): Outcome[] {
  const state = createOpenAIStreamState(target);
  return events.map((data) => {
    try {
      return { parts: state.partsFromEventData(data) };
    } catch (error) {
      return { error: String(error) };
    }
  });
}

/** The same, each event parsed with JSON.parse and translated on its own: what the templates must agree with. */
function throughJsonParse(events: readonly string[]): Outcome[] {
  const state = createOpenAIStreamState(target);
  return events.map((data) => {
    try {
      let chunk: unknown;
      try {
        chunk = JSON.parse(data);
      } catch {
        return { parts: state.partsFromEventData(data) };
      }
      return { parts: state.partsFromChunk(chunk) };
    } catch (error) {
      return { error: String(error) };
    }
  });
}

/** Counts JSON.parse calls while `run` runs. */
function countingParses<T>(run: () => T): { result: T; parses: number } {
  const original = JSON.parse;
  let parses = 0;
  JSON.parse = ((text: string, reviver?: (this: unknown, key: string, value: unknown) => unknown) => {
    parses++;
    return original(text, reviver);
  }) as typeof JSON.parse;
  try {
    return { result: run(), parses };
  } finally {
    JSON.parse = original;
  }
}

const words = ["Quiet", " packets", " cross", " the", " gateway", " at", " dawn", "\n\n", " \"quoted\"", " é", " 🎉", " tab\there", " back\\slash", ""];

/** A stream as OpenAI-compatible servers send it: role first, then content deltas, then finish and usage. */
function openAIStream(shape: (delta: object, finish: string | null) => object, texts = words): string[] {
  return [
    JSON.stringify(shape({ role: "assistant", content: "" }, null)),
    ...texts.map((text) => JSON.stringify(shape({ content: text }, null))),
    JSON.stringify(shape({}, "stop")),
    JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1, model: "m", choices: [], usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } }),
  ];
}

const shapes: Record<string, (delta: object, finish: string | null) => object> = {
  "the benchmark mock": (delta, finish) => ({ id: "chatcmpl-bench", object: "chat.completion.chunk", created: 1, model: "gpt-4o-mini", choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }], usage: null }),
  "vLLM": (delta, finish) => ({ id: "chatcmpl-1", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] }),
  "OpenAI with obfuscation": (delta, finish) => ({ id: "chatcmpl-2", object: "chat.completion.chunk", created: 1, model: "m", system_fingerprint: "fp", choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], obfuscation: Math.random().toString(36).slice(2) }),
  "DeepSeek reasoning": (delta, finish) => ({ id: "r", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta: "content" in delta ? { content: null, reasoning_content: (delta as { content: string }).content } : delta, finish_reason: finish }] }),
  "OpenRouter reasoning": (delta, finish) => ({ id: "r", model: "m", choices: [{ index: 0, delta: "content" in delta ? { role: undefined, content: "", reasoning: (delta as { content: string }).content } : delta, finish_reason: finish }] }),
  "second choice": (delta, finish) => ({ id: "n", model: "m", choices: [{ index: 1, delta, finish_reason: finish }] }),
};

for (const [name, shape] of Object.entries(shapes)) {
  test(`${name}: the parts are those of JSON.parse, event by event`, (t) => {
    const events = openAIStream(shape);
    t.deepEqual(throughStream(events), throughJsonParse(events));
  });
}

test("a stream of the usual shape is read with a few JSON.parse calls, not one per chunk", (t) => {
  const texts = Array.from({ length: 50 }, (_, index) => ` word${index}`);
  const events = openAIStream(shapes["the benchmark mock"]!, texts);
  const { result, parses } = countingParses(() => throughStream(events));
  t.deepEqual(result, throughJsonParse(events));
  // The role chunk, the chunk learned from and its probe, the finish and the usage chunks.
  t.true(parses <= 6, `${parses} parses for ${events.length} events`);
});

test("OpenAI's obfuscation padding, different in every chunk, does not stop the template", (t) => {
  const texts = Array.from({ length: 50 }, (_, index) => (index % 7 === 3 ? ` line\n${index}` : ` word${index}`));
  const events = openAIStream(shapes["OpenAI with obfuscation"]!, texts);
  const { result, parses } = countingParses(() => throughStream(events));
  t.deepEqual(result, throughJsonParse(events));
  // As above, plus decoding the texts with an escape (one JSON.parse of the string alone).
  t.true(parses <= 6 + 7, `${parses} parses for ${events.length} events`);
});

test("chunks that differ in more than the delta stop being learned from", (t) => {
  const texts = Array.from({ length: 50 }, (_, index) => ` word${index}`);
  const shape = (delta: object, finish: string | null) => ({ id: "v", nonce: Math.random().toString(36).slice(2), model: "m", choices: [{ index: 0, delta, finish_reason: finish }] });
  const events = openAIStream(shape, texts);
  const { result, parses } = countingParses(() => throughStream(events));
  t.deepEqual(result, throughJsonParse(events));
  // One parse per event, and at most two learning probes.
  t.true(parses <= events.length + 2, `${parses} parses for ${events.length} events`);
});

test("escapes, quotes and control characters in a later chunk's text are read as JSON.parse reads them, or refused as it refuses them", (t) => {
  const shape = shapes["the benchmark mock"]!;
  const learned = [JSON.stringify(shape({ role: "assistant", content: "" }, null)), JSON.stringify(shape({ content: "plain" }, null))];
  const [prefix, suffix] = learned[1]!.split("plain") as [string, string];
  const bodies = [
    String.raw`a\nb`, String.raw`\"`, String.raw`\u00e9\ud83c\udf89`, String.raw`\ud800`, String.raw`\/\b\f\r\t\\`,
    // Not one JSON string: each must fail or parse exactly as JSON.parse has it.
    String.raw`\x41`, String.raw`\u12`, String.raw`\u12G4`, "a\\", `a"`, `a","finish_reason":"stop`, "a\u0001b", "tab\tin raw",
    `a"},"finish_reason":"length","x":{"y":"`, String.raw`\\"`, "\\\\",
  ];
  const events = [...learned, ...bodies.map((body) => `${prefix}${body}${suffix}`)];
  t.deepEqual(throughStream(events), throughJsonParse(events));
});

test("random text in place of the delta agrees with JSON.parse", (t) => {
  const shape = shapes["vLLM"]!;
  const learned = [JSON.stringify(shape({ content: "seed" }, null))];
  const [prefix, suffix] = learned[0]!.split("seed") as [string, string];
  const alphabet = ['"', "\\", "u", "0", "a", "F", "n", "/", "\u0000", "\u001f", " ", "é", "\ud83c", "\udf89", "}", ",", ":", "{", "["];
  let seed = 7;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const events = [...learned];
  for (let index = 0; index < 2000; index++) {
    let body = "";
    const length = Math.floor(random() * 8);
    for (let position = 0; position < length; position++) body += alphabet[Math.floor(random() * alphabet.length)];
    events.push(`${prefix}${body}${suffix}`);
  }
  t.deepEqual(throughStream(events), throughJsonParse(events));
});

test("random text in place of the delta and of the obfuscation padding agrees with JSON.parse", (t) => {
  const shape = shapes["OpenAI with obfuscation"]!;
  const learned = JSON.stringify({ ...shape({ content: "seed" }, null), obfuscation: "PAD" });
  const [prefix, rest] = learned.split("seed") as [string, string];
  const [middle, tail] = rest.split("PAD") as [string, string];
  const alphabet = ['"', "\\", "u", "0", "a", "F", "n", "\u0000", "\u001f", " ", "é", "\ud83c", "}", ",", ":", "{"];
  let seed = 11;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const text = () => {
    let value = "";
    const length = Math.floor(random() * 7);
    for (let position = 0; position < length; position++) value += alphabet[Math.floor(random() * alphabet.length)];
    return value;
  };
  const events = [learned];
  for (let index = 0; index < 2000; index++) events.push(`${prefix}${text()}${middle}${random() < 0.5 ? "Xy3" : text()}${tail}`);
  t.deepEqual(throughStream(events), throughJsonParse(events));
});

test("a template is not learned where the text also stands under another field", (t) => {
  const accept = () => true;
  // The same value twice: which one is the delta's cannot be told from the text.
  t.is(learnChunkTemplate('{"content":"hi","choices":[{"delta":{"content":"hi"}}]}', "text", "hi", 0, accept), undefined);
  // The delta's key is escaped, so the only literal match is another field: the probe shows it.
  const data = String.raw`{"other":{"content":"hi"},"choices":[{"delta":{"cont\u0065nt":"hi"}}]}`;
  const state = createOpenAIStreamState(target);
  const verify = (probe: string, probeValue: string) => {
    const parts = state.partsFromChunk(JSON.parse(probe));
    return parts.length === 1 && parts[0]!.event.case === "text" && parts[0]!.event.value.text === probeValue;
  };
  t.is(learnChunkTemplate(data, "text", "hi", 0, verify), undefined);
  const events = [data, data.replace(/hi/g, "yo"), String.raw`{"other":{"content":"yo"},"choices":[{"delta":{"cont\u0065nt":"hi"}}]}`];
  t.deepEqual(throughStream(events), throughJsonParse(events));
});

test("a learned template reads exactly its own chunks", (t) => {
  const data = '{"id":"x","choices":[{"index":0,"delta":{"content":"one"},"finish_reason":null}]}';
  const template = learnChunkTemplate(data, "text", "one", 0, () => true);
  t.truthy(template);
  t.is(template!.read(data.replace("one", "two words")), "two words");
  t.is(template!.read(data.replace("one", String.raw`a\nb`)), "a\nb");
  t.is(template!.read(data.replace("one", "")), "");
  t.is(template!.read(data.replace('"x"', '"y"')), undefined);
  t.is(template!.read(data.replace("null", '"stop"')), undefined);
  t.is(template!.read(`${data} `), undefined);
  t.is(template!.read(data.replace("one", 'a"b')), undefined);
});
