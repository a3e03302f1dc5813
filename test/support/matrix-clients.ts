import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { createOpenAI } from "@ai-sdk/openai";
import { embed, generateText, jsonSchema, streamText, tool } from "ai";
import { ChatOpenAI, OpenAIEmbeddings } from "@langchain/openai";
import type { AIMessageChunk } from "@langchain/core/messages";

// The four clients of the client matrix (test/client-matrix.test.ts), each behind one small interface:
// how it chats, streams and embeds through the facade, and how it names finish reasons and usage.

/** Usage as the contract counts it: `input` includes the cached and cache-written tokens. */
export interface ContractUsage {
  readonly input: number;
  readonly output: number;
  readonly cached: number;
  readonly cacheCreation: number;
}

export const weatherParameters = { type: "object" as const, properties: { city: { type: "string" } }, required: ["city"] };

export type Finish = "stop" | "length" | "tool";

/** What one cell saw, in the client's own terms. */
export interface Outcome {
  readonly text: string;
  readonly finish: string | null | undefined;
  readonly toolCalls: readonly { name: string; input: unknown }[];
  /** Usage named as the client names it. */
  readonly usage: Readonly<Record<string, number | undefined>>;
}

export interface ChatCall {
  readonly model: string;
  readonly prompt: string;
  readonly maxTokens: number;
  readonly tools: boolean;
}

/** One client: how it chats, streams and embeds, and how it names finish reasons and usage. */
export interface MatrixClient {
  readonly label: string;
  readonly finishNames: Readonly<Record<Finish, string>>;
  /** The usage it should report for a backend's contract usage. */
  expectedUsage(usage: ContractUsage): Record<string, number>;
  /** Keys of its usage: [input, output, cached]. */
  readonly usageKeys: readonly [string, string, string];
  chat(call: ChatCall): Promise<Outcome>;
  stream(call: ChatCall): Promise<Outcome>;
  embed?(model: string, text: string): Promise<{ vector: number[]; inputTokens?: number }>;
}

function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The official OpenAI SDK: chat.completions.create (streamed with include_usage) and embeddings.create. */
export function createOpenAISdkClient(facadeUrl: () => string): MatrixClient {
  return {
    label: "openai-sdk",
    finishNames: { stop: "stop", length: "length", tool: "tool_calls" },
    usageKeys: ["prompt_tokens", "completion_tokens", "cached_tokens"],
    expectedUsage: (usage) => ({ prompt_tokens: usage.input, completion_tokens: usage.output, cached_tokens: usage.cached }),
    async chat(call) {
      const completion = await openaiClient(facadeUrl()).chat.completions.create({
        model: call.model,
        max_tokens: call.maxTokens,
        messages: [{ role: "user", content: call.prompt }],
        ...(call.tools ? { tools: [{ type: "function" as const, function: { name: "get_weather", description: "The weather in a city", parameters: weatherParameters } }] } : {}),
      });
      const choice = completion.choices[0];
      const toolCalls = (choice?.message.tool_calls ?? []).flatMap((entry) => (entry.type === "function" ? [{ name: entry.function.name, input: parseArguments(entry.function.arguments) }] : []));
      return { text: choice?.message.content ?? "", finish: choice?.finish_reason, toolCalls, usage: openaiUsageView(completion.usage) };
    },
    async stream(call) {
      const stream = await openaiClient(facadeUrl()).chat.completions.create({
        model: call.model,
        max_tokens: call.maxTokens,
        messages: [{ role: "user", content: call.prompt }],
        stream: true,
        stream_options: { include_usage: true },
      });
      let text = "";
      let finish: string | null | undefined;
      let usage: OpenAI.CompletionUsage | undefined;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? "";
        finish = chunk.choices[0]?.finish_reason ?? finish;
        if (chunk.usage) usage = chunk.usage;
      }
      return { text, finish, toolCalls: [], usage: openaiUsageView(usage) };
    },
    async embed(model, text) {
      const response = await openaiClient(facadeUrl()).embeddings.create({ model, input: text });
      return { vector: response.data[0]!.embedding, inputTokens: response.usage.prompt_tokens };
    },
  };
}

function openaiClient(facade: string): OpenAI {
  return new OpenAI({ baseURL: `${facade}/v1`, apiKey: "unused", maxRetries: 0, timeout: 120_000 });
}

function openaiUsageView(usage: OpenAI.CompletionUsage | undefined): Record<string, number | undefined> {
  return { prompt_tokens: usage?.prompt_tokens, completion_tokens: usage?.completion_tokens, cached_tokens: usage?.prompt_tokens_details?.cached_tokens ?? 0 };
}

/** The AI SDK on chat completions (`createOpenAI(…).chat`): generateText, streamText, embed. */
export function createAISdkClient(facadeUrl: () => string): MatrixClient {
  return {
    label: "ai-sdk",
    finishNames: { stop: "stop", length: "length", tool: "tool-calls" },
    usageKeys: ["inputTokens", "outputTokens", "cacheReadTokens"],
    expectedUsage: (usage) => ({ inputTokens: usage.input, outputTokens: usage.output, cacheReadTokens: usage.cached }),
    async chat(call) {
      const result = await generateText({
        model: aiProvider(facadeUrl()).chat(call.model),
        maxOutputTokens: call.maxTokens,
        maxRetries: 0,
        prompt: call.prompt,
        ...(call.tools ? { tools: { get_weather: tool({ description: "The weather in a city", inputSchema: jsonSchema<{ city: string }>(weatherParameters) }) } } : {}),
      });
      return {
        text: result.text,
        finish: result.finishReason,
        toolCalls: result.toolCalls.map((entry) => ({ name: entry.toolName, input: entry.input })),
        usage: { inputTokens: result.usage.inputTokens, outputTokens: result.usage.outputTokens, cacheReadTokens: result.usage.inputTokenDetails.cacheReadTokens ?? 0 },
      };
    },
    async stream(call) {
      const errors: unknown[] = [];
      const result = streamText({ model: aiProvider(facadeUrl()).chat(call.model), maxOutputTokens: call.maxTokens, maxRetries: 0, prompt: call.prompt, onError: ({ error }) => void errors.push(error) });
      let text = "";
      for await (const delta of result.textStream) text += delta;
      if (errors.length > 0) throw errors[0];
      const usage = await result.usage;
      return { text, finish: await result.finishReason, toolCalls: [], usage: { inputTokens: usage.inputTokens, outputTokens: usage.outputTokens, cacheReadTokens: usage.inputTokenDetails.cacheReadTokens ?? 0 } };
    },
    async embed(model, text) {
      const result = await embed({ model: aiProvider(facadeUrl()).embedding(model), value: text, maxRetries: 0 });
      return { vector: result.embedding, inputTokens: result.usage.tokens };
    },
  };
}

function aiProvider(facade: string): ReturnType<typeof createOpenAI> {
  return createOpenAI({ baseURL: `${facade}/v1`, apiKey: "unused" });
}

/** LangChain's ChatOpenAI (invoke, stream, bindTools) and OpenAIEmbeddings. */
export function createLangChainClient(facadeUrl: () => string): MatrixClient {
  return {
    label: "langchain",
    finishNames: { stop: "stop", length: "length", tool: "tool_calls" },
    usageKeys: ["input_tokens", "output_tokens", "cache_read"],
    expectedUsage: (usage) => ({ input_tokens: usage.input, output_tokens: usage.output, cache_read: usage.cached }),
    async chat(call) {
      const model = langchainModel(facadeUrl(), call);
      const message = await (call.tools ? model.bindTools([{ type: "function", function: { name: "get_weather", description: "The weather in a city", parameters: weatherParameters } }]) : model).invoke(call.prompt);
      return langchainOutcome(message);
    },
    async stream(call) {
      let whole: AIMessageChunk | undefined;
      for await (const chunk of await langchainModel(facadeUrl(), call).stream(call.prompt)) whole = whole === undefined ? chunk : whole.concat(chunk);
      if (whole === undefined) throw new Error("the stream had no chunk");
      return langchainOutcome(whole);
    },
    async embed(model, text) {
      const embeddings = new OpenAIEmbeddings({ model, configuration: { baseURL: `${facadeUrl()}/v1` }, apiKey: "unused", maxRetries: 0 });
      // LangChain's embeddings do not expose usage.
      return { vector: await embeddings.embedQuery(text) };
    },
  };
}

function langchainModel(facade: string, call: ChatCall): ChatOpenAI {
  return new ChatOpenAI({ model: call.model, maxTokens: call.maxTokens, configuration: { baseURL: `${facade}/v1` }, apiKey: "unused", maxRetries: 0, timeout: 120_000 });
}

function langchainOutcome(message: AIMessageChunk): Outcome {
  const metadata = message.usage_metadata;
  return {
    text: typeof message.content === "string" ? message.content : "",
    finish: message.response_metadata.finish_reason as string | undefined,
    toolCalls: (message.tool_calls ?? []).map((entry) => ({ name: entry.name, input: entry.args })),
    usage: { input_tokens: metadata?.input_tokens, output_tokens: metadata?.output_tokens, cache_read: metadata?.input_token_details?.cache_read ?? 0 },
  };
}

/** The Anthropic SDK: messages.create and messages.stream; its API has no embeddings. */
export function createAnthropicSdkClient(facadeUrl: () => string): MatrixClient {
  return {
    label: "anthropic-sdk",
    finishNames: { stop: "end_turn", length: "max_tokens", tool: "tool_use" },
    usageKeys: ["input_tokens", "output_tokens", "cache_read_input_tokens"],
    // Anthropic's input_tokens is the input outside the cache; reads and writes are named apart.
    expectedUsage: (usage) => ({
      input_tokens: usage.input - usage.cached - usage.cacheCreation,
      output_tokens: usage.output,
      cache_read_input_tokens: usage.cached,
      cache_creation_input_tokens: usage.cacheCreation,
    }),
    async chat(call) {
      const message = await anthropicClient(facadeUrl()).messages.create({
        model: call.model,
        max_tokens: call.maxTokens,
        messages: [{ role: "user", content: call.prompt }],
        ...(call.tools ? { tools: [{ name: "get_weather", description: "The weather in a city", input_schema: weatherParameters }] } : {}),
      });
      return anthropicOutcome(message);
    },
    async stream(call) {
      return anthropicOutcome(await anthropicClient(facadeUrl()).messages.stream({ model: call.model, max_tokens: call.maxTokens, messages: [{ role: "user", content: call.prompt }] }).finalMessage());
    },
  };
}

function anthropicClient(facade: string): Anthropic {
  return new Anthropic({ baseURL: facade, apiKey: "unused", maxRetries: 0, timeout: 120_000 });
}

function anthropicOutcome(message: Anthropic.Message): Outcome {
  return {
    text: message.content.map((block) => (block.type === "text" ? block.text : "")).join(""),
    finish: message.stop_reason,
    toolCalls: message.content.flatMap((block) => (block.type === "tool_use" ? [{ name: block.name, input: block.input }] : [])),
    usage: {
      input_tokens: message.usage.input_tokens,
      output_tokens: message.usage.output_tokens,
      cache_read_input_tokens: message.usage.cache_read_input_tokens ?? 0,
      cache_creation_input_tokens: message.usage.cache_creation_input_tokens ?? 0,
    },
  };
}

/** All four clients against the facade at `facadeUrl()` (read when a cell runs, after start-up). */
export function createMatrixClients(facadeUrl: () => string): readonly MatrixClient[] {
  return [createOpenAISdkClient(facadeUrl), createAISdkClient(facadeUrl), createLangChainClient(facadeUrl), createAnthropicSdkClient(facadeUrl)];
}
