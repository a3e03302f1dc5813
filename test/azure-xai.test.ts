import http from "node:http";
import test, { type ExecutionContext } from "ava";
import OpenAI from "openai";
import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { EmbedRequestSchema, FinishReason } from "../gen/iir/inference/v1/inference_pb.js";
import { findGatewayError } from "../services/common/errors.js";
import type { ChatTarget } from "../services/router/adapters/adapter.js";
import { createAzureOpenAIAdapter } from "../services/router/adapters/azure-openai/azure-openai-adapter.js";
import { collect, failureOf, kindsOf, paramsWith, textOf } from "./support/adapter-fixtures.js";
import { startFakeUpstream } from "./support/fake-openai-upstream.js";
import { listenOnLoopback } from "./support/loopback-server.js";
import { startMesh } from "./support/mesh.js";

// Azure OpenAI (a configuration of the OpenAI wire format on Azure's URLs and key header) against a
// fake Azure resource, and xAI (a plain OpenAI-compatible row) through a whole mesh.

const azureKey = "azure-fake-key-0123456789abcdef";

interface AzureRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
}

/** A fake Azure OpenAI resource: `/openai/deployments/{deployment}/chat/completions|embeddings?api-version=…`, keyed by `api-key`. */
async function startFakeAzure(t: ExecutionContext) {
  const requests: AzureRequest[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as Record<string, unknown>;
      requests.push({ method: request.method ?? "", url: request.url ?? "", headers: request.headers, body });
      const send = (status: number, json: unknown) => {
        response.writeHead(status, { "content-type": "application/json" });
        response.end(JSON.stringify(json));
      };
      if (request.headers["api-key"] !== azureKey) {
        return send(401, { error: { code: "401", message: "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource." } });
      }
      const match = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|embeddings)\?api-version=([\w-]+)$/.exec(request.url ?? "");
      if (match === null) return send(404, { error: { code: "404", message: "Resource not found" } });
      const [, deployment, operation] = match;
      if (operation === "embeddings") {
        const inputs = body.input as string[];
        return send(200, { object: "list", data: inputs.map((text, index) => ({ object: "embedding", index, embedding: [text.length, 0.5] })), model: "text-embedding-3-small", usage: { prompt_tokens: 2, total_tokens: 2 } });
      }
      const created = 1_731_000_000;
      if (body.stream !== true) {
        return send(200, {
          id: "chatcmpl-azure-1",
          object: "chat.completion",
          created,
          model: "gpt-4o-2024-11-20",
          choices: [{ index: 0, message: { role: "assistant", content: `azure ${deployment}` }, finish_reason: "stop", content_filter_results: {} }],
          usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
        });
      }
      response.writeHead(200, { "content-type": "text/event-stream" });
      const chunk = (choices: unknown[], usage?: unknown) => `data: ${JSON.stringify({ id: "chatcmpl-azure-2", object: "chat.completion.chunk", created, model: "gpt-4o-2024-11-20", choices, ...(usage ? { usage } : {}) })}\n\n`;
      // Azure's first chunk carries only prompt filter results, with no choices.
      response.write(`data: ${JSON.stringify({ choices: [], created: 0, id: "", model: "", object: "", prompt_filter_results: [{ prompt_index: 0, content_filter_results: {} }] })}\n\n`);
      response.write(chunk([{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }]));
      response.write(chunk([{ index: 0, delta: { content: "azure " }, finish_reason: null }]));
      response.write(chunk([{ index: 0, delta: { content: String(deployment) }, finish_reason: null }]));
      response.write(chunk([{ index: 0, delta: {}, finish_reason: "stop" }]));
      response.write(chunk([], { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 }));
      response.end("data: [DONE]\n\n");
    });
  });
  const url = await listenOnLoopback(t, server);
  return { baseUrl: `${url.origin}/openai`, requests, last: () => requests.at(-1)! };
}

function azureTarget(baseUrl: string, apiKey = azureKey): ChatTarget {
  return { backend: "azure", provider: "azure", baseUrl, apiKey, upstreamModel: "my-gpt4o", credentialSource: "EXTERNAL_AZURE_OPENAI_KEY" };
}

test("Azure: chat goes to /deployments/<deployment>/chat/completions?api-version=… with the key as api-key, not Bearer", async (t) => {
  const azure = await startFakeAzure(t);
  const adapter = createAzureOpenAIAdapter({ timeoutMs: 5_000, apiVersion: "2024-10-21" });
  const response = await adapter.chat(paramsWith({ temperature: 0.2 }), azureTarget(azure.baseUrl), AbortSignal.timeout(10_000));
  t.is(response.choices[0]?.message?.content.value, "azure my-gpt4o");
  t.is(response.choices[0]?.finishReason, FinishReason.STOP);
  t.like(response.usage, { promptTokens: 5, completionTokens: 2, totalTokens: 7 });
  const request = azure.last();
  t.is(request.url, "/openai/deployments/my-gpt4o/chat/completions?api-version=2024-10-21");
  t.is(request.headers["api-key"], azureKey);
  t.is(request.headers.authorization, undefined);
  t.like(request.body, { temperature: 0.2 });
});

test("Azure: a stream (with Azure's choice-less filter chunk first) arrives as text, finish, usage", async (t) => {
  const azure = await startFakeAzure(t);
  const adapter = createAzureOpenAIAdapter({ timeoutMs: 5_000, apiVersion: "2025-01-01-preview" });
  const parts = await collect(adapter.chatStream(paramsWith(), azureTarget(azure.baseUrl), AbortSignal.timeout(10_000)));
  t.is(textOf(parts), "azure my-gpt4o");
  t.deepEqual(kindsOf(parts), ["text", "finish", "usage"]);
  t.is(azure.last().url, "/openai/deployments/my-gpt4o/chat/completions?api-version=2025-01-01-preview");
  t.is(azure.last().body.stream, true);
});

test("Azure: embeddings go to /deployments/<deployment>/embeddings; a refused key is the gateway's 502", async (t) => {
  const azure = await startFakeAzure(t);
  const adapter = createAzureOpenAIAdapter({ timeoutMs: 5_000, apiVersion: "2024-10-21" });
  const response = await adapter.embed!(create(EmbedRequestSchema, { model: "azure/my-embedder", inputs: ["ab", "abcd"] }), { ...azureTarget(azure.baseUrl), upstreamModel: "my-embedder" }, AbortSignal.timeout(10_000));
  t.deepEqual(response.embeddings.map((embedding) => embedding.values[0]), [2, 4]);
  t.is(azure.last().url, "/openai/deployments/my-embedder/embeddings?api-version=2024-10-21");
  t.is(azure.last().headers["api-key"], azureKey);

  const error = await failureOf(adapter.chat(paramsWith(), azureTarget(azure.baseUrl, "wrong-key-000000000000"), AbortSignal.timeout(10_000)));
  t.is(error.code, Code.Unavailable);
  t.like(findGatewayError(error), { httpStatus: 502, code: "upstream_auth_error" });
  t.regex(error.message, /EXTERNAL_AZURE_OPENAI_KEY/);
});

test("through a whole mesh: azure/<deployment> and xai/grok-4 reach their upstreams with the official OpenAI SDK", async (t) => {
  const azure = await startFakeAzure(t);
  const xaiKey = "xai-fake-key-0123456789";
  const xai = await startFakeUpstream({ apiKey: xaiKey });
  t.teardown(() => xai.close());
  const mesh = await startMesh({
    AZURE_OPENAI_BASE_URL: azure.baseUrl,
    EXTERNAL_AZURE_OPENAI_KEY: azureKey,
    AZURE_OPENAI_API_VERSION: "2024-06-01",
    XAI_BASE_URL: xai.baseUrl,
    EXTERNAL_XAI_KEY: xaiKey,
  });
  t.teardown(() => mesh.close());
  const client = new OpenAI({ baseURL: mesh.facadeUrl, apiKey: "unused", maxRetries: 0 });

  const { data, response } = await client.chat.completions.create({ model: "azure/prod-4o", messages: [{ role: "user", content: "hi" }] }).withResponse();
  t.is(data.choices[0]?.message.content, "azure prod-4o");
  t.is(response.headers.get("x-iir-backend"), "azure");
  t.is(azure.last().url, "/openai/deployments/prod-4o/chat/completions?api-version=2024-06-01");

  let streamed = "";
  for await (const chunk of await client.chat.completions.create({ model: "azure/prod-4o", messages: [{ role: "user", content: "hi" }], stream: true })) streamed += chunk.choices[0]?.delta.content ?? "";
  t.is(streamed, "azure prod-4o");

  const grok = await client.chat.completions.create({ model: "xai/grok-4", messages: [{ role: "user", content: "hello grok" }] }).withResponse();
  t.is(grok.data.choices[0]?.message.content, "echo: hello grok");
  t.is(grok.response.headers.get("x-iir-backend"), "xai");
  const forwarded = xai.lastRequest();
  t.is(forwarded.path, "/v1/chat/completions");
  t.is(forwarded.headers.authorization, `Bearer ${xaiKey}`);
  t.is((forwarded.body as { model: string }).model, "grok-4");
});
