import type { ExecutionContext } from "ava";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import { ChatParamsSchema, Role, type ChatParams, type ChatStreamResponse } from "../../gen/iir/inference/v1/inference_pb.js";
import { findUpstreamError } from "../../services/common/errors.js";
import type { ChatTarget } from "../../services/router/adapters/adapter.js";
import { createOpenAICompatibleAdapter } from "../../services/router/adapters/openai-compatible/openai-compatible-adapter.js";
import { startFakeUpstream, type FakeUpstream, type FakeUpstreamOptions } from "./fake-openai-upstream.js";

// Shared by the OpenAI-compatible adapter's test files: a fake upstream per test and readers of what came back.

export const apiKey = "sk-test-0123456789abcdef";
export const weatherTool = {
  type: "function",
  function: { name: "get_weather", description: "Weather in a city", parameters: { type: "object", properties: { city: { type: "string" } } } },
};

/** A fake upstream, closed when the test ends, and the adapter pointed at it. */
export async function setUp(t: ExecutionContext, options: FakeUpstreamOptions = {}, timeoutMs = 5_000) {
  const upstream = await startFakeUpstream(options);
  t.teardown(() => upstream.close());
  const adapter = createOpenAICompatibleAdapter({ timeoutMs });
  return { upstream, adapter, target: targetFor(upstream) };
}

export function targetFor(upstream: Pick<FakeUpstream, "baseUrl">, upstreamModel = "gpt-fake"): ChatTarget {
  return { backend: "openai", provider: "openai", baseUrl: upstream.baseUrl, apiKey, upstreamModel };
}

export function paramsWith(init: MessageInitShape<typeof ChatParamsSchema> = {}): ChatParams {
  return create(ChatParamsSchema, {
    model: "openai/gpt-fake",
    messages: [
      { role: Role.SYSTEM, content: { case: "text", value: "Be brief." } },
      { role: Role.USER, content: { case: "text", value: "hello world" } },
    ],
    ...init,
  });
}

export function userSays(text: string): MessageInitShape<typeof ChatParamsSchema>["messages"] {
  return [{ role: Role.USER, content: { case: "text", value: text } }];
}

export async function collect(stream: AsyncIterable<ChatStreamResponse>): Promise<ChatStreamResponse[]> {
  const parts: ChatStreamResponse[] = [];
  for await (const part of stream) parts.push(part);
  return parts;
}

/** Reads a stream until it fails; returns what arrived before and the error. */
export async function collectUntilFailure(stream: AsyncIterable<ChatStreamResponse>): Promise<{ parts: ChatStreamResponse[]; error: ConnectError }> {
  const parts: ChatStreamResponse[] = [];
  try {
    for await (const part of stream) parts.push(part);
  } catch (error) {
    if (!(error instanceof ConnectError)) throw error;
    return { parts, error };
  }
  throw new Error("expected the stream to fail");
}

export async function failureOf(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ConnectError) return error;
    throw error;
  }
  throw new Error("expected the call to fail");
}

export function textOf(parts: readonly ChatStreamResponse[], choiceIndex = 0): string {
  return parts.map((part) => (part.event.case === "text" && part.choiceIndex === choiceIndex ? part.event.value.text : "")).join("");
}

export function kindsOf(parts: readonly ChatStreamResponse[]): string[] {
  return parts.map((part) => part.event.case ?? "none").filter((kind, position, all) => position === 0 || all[position - 1] !== kind);
}

export function neverEchoesKey(t: ExecutionContext, error: ConnectError): void {
  t.false(error.message.includes(apiKey), `the key leaked into: ${error.message}`);
  t.false(JSON.stringify(findUpstreamError(error) ?? {}).includes(apiKey));
}
