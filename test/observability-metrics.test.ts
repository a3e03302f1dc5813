import test from "ava";
import OpenAI from "openai";
import type { RunningAgent } from "../services/agent/server.js";
import { startTestAgent } from "./support/agent-fixtures.js";
import { startFakeUpstream, type FakeUpstream } from "./support/fake-openai-upstream.js";
import { adminRegistry } from "./support/admin.js";
import { startMesh, type TestMesh } from "./support/mesh.js";
import { startSplitMesh } from "./support/split-mesh.js";
import { labelValues, parsePrometheusText, scrape, sumOf, type PrometheusSample } from "./support/prometheus-text.js";

// Known traffic through a whole mesh (a real agent on the tiny model, a fake OpenAI upstream), then
// the facade's /metrics as Prometheus scrapes it.
const agentModel = "local/iir-tiny";
const unknownModel = `made-up-${crypto.randomUUID()}`;
let upstream: FakeUpstream;
let mesh: TestMesh;
let agent: RunningAgent;
let samples: PrometheusSample[];
let metricsText: string;
const seen = { streams: [] as OpenAI.CompletionUsage[], wholes: [] as OpenAI.CompletionUsage[] };

test.before(async () => {
  upstream = await startFakeUpstream();
  mesh = await startMesh({ OPENAI_BASE_URL: upstream.baseUrl, EXTERNAL_OPENAI_KEY: "sk-test", IIR_ROUTER_METRICS_PORT: "0" });
  agent = await startTestAgent(mesh.routerUrl);
  const registry = adminRegistry(mesh.routerUrl);
  await registry.upsertModel({ model: { name: "team/chat", provider: "openai", upstreamModel: "gpt-4o-mini", enabled: true } });
  await registry.upsertModel({ model: { name: "team/broken", provider: "openai", upstreamModel: "fail-503", enabled: true } });
  const client = new OpenAI({ baseURL: mesh.facadeUrl, apiKey: "unused", maxRetries: 0 });
  const messages = [{ role: "user" as const, content: "count the metrics" }];
  // Greedy decoding: sampled, the tiny model ends on EOS about once in 500 tokens, and the counts
  // below are exact.
  for (const maxTokens of [6, 9]) {
    const stream = await client.chat.completions.create({ model: agentModel, messages, max_tokens: maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true } });
    for await (const chunk of stream) if (chunk.usage) seen.streams.push(chunk.usage);
  }
  seen.wholes.push((await client.chat.completions.create({ model: agentModel, messages, max_tokens: 4, temperature: 0 })).usage!);
  await client.chat.completions.create({ model: "team/chat", messages });
  await client.chat.completions.create({ model: "openai/gpt-4o-mini", messages });
  await client.chat.completions.create({ model: unknownModel, messages }).catch(() => undefined);
  await client.chat.completions.create({ model: "team/broken", messages }).catch(() => undefined);
  // The facade records a request when its response closes, just after the client has read it.
  samples = await scrapeUntil(mesh.metricsUrl, (scraped) => sumOf(scraped, "iir_requests_total") >= 7);
  metricsText = await (await fetch(mesh.metricsUrl)).text();
});

test.after.always(async () => {
  await agent?.close(1000);
  await mesh?.close();
  await upstream?.close();
});

const model = (name: string) => ({ gen_ai_request_model: name });

test("requests are counted by model and status, and only models the router knows become labels", (t) => {
  t.is(sumOf(samples, "iir_requests_total", { ...model(agentModel), status: "200", backend: agent.id }), 3);
  t.is(sumOf(samples, "iir_requests_total", { ...model("team/chat"), status: "200", backend: "openai" }), 1);
  t.is(sumOf(samples, "iir_requests_total", { ...model("team/broken"), status: "503" }), 1, "a known model keeps its label when its backend fails");
  t.is(sumOf(samples, "iir_requests_total", { ...model("other"), status: "200" }), 1, "provider/model naming is not a registered model");
  t.is(sumOf(samples, "iir_requests_total", { ...model("other"), status: "404" }), 1);
  t.deepEqual(sorted(labelValues(samples, "iir_requests_total", "gen_ai_request_model")), sorted([agentModel, "team/chat", "team/broken", "other"]));
  t.false(metricsText.includes(unknownModel), "a name a client made up appears in no series");
  t.false(metricsText.includes("gpt-4o-mini"));
});

test("token usage sums match the usage the client was told, by token type", (t) => {
  const usages = [...seen.streams, ...seen.wholes];
  t.is(usages.length, 3);
  const input = usages.reduce((sum, usage) => sum + usage.prompt_tokens, 0);
  const output = usages.reduce((sum, usage) => sum + usage.completion_tokens, 0);
  t.is(output, 6 + 9 + 4);
  t.is(sumOf(samples, "gen_ai_client_token_usage_sum", { ...model(agentModel), gen_ai_token_type: "input" }), input);
  t.is(sumOf(samples, "gen_ai_client_token_usage_sum", { ...model(agentModel), gen_ai_token_type: "output" }), output);
  t.is(sumOf(samples, "gen_ai_client_token_usage_count", { ...model(agentModel), gen_ai_token_type: "output" }), 3);
});

test("durations cover every chat request; time to first token and per output token only the streams", (t) => {
  t.is(sumOf(samples, "gen_ai_server_request_duration_count"), 7);
  t.is(sumOf(samples, "gen_ai_server_request_duration_bucket", { ...model(agentModel), le: "+Inf" }), 3);
  t.is(sumOf(samples, "gen_ai_server_time_to_first_token_count", model(agentModel)), 2);
  t.is(sumOf(samples, "gen_ai_server_time_to_first_token_count"), 2, "non-streamed answers have no first-token time");
  t.is(sumOf(samples, "gen_ai_server_time_per_output_token_count", model(agentModel)), 2);
});

test("gateway overhead is recorded for each request the router answered, without the backend's time", (t) => {
  t.is(sumOf(samples, "iir_gateway_overhead_seconds_count", model(agentModel)), 3);
  t.true(sumOf(samples, "iir_gateway_overhead_seconds_sum", model(agentModel)) < sumOf(samples, "gen_ai_server_request_duration_sum", model(agentModel)));
});

test("a failing backend is counted by backend and code; cache results by result", (t) => {
  t.true(sumOf(samples, "iir_backend_errors_total", { backend: "openai", code: "unavailable" }) >= 1);
  // CACHE_TTL=0: each answered request bypassed the cache (the router's cache header is not seen on errors).
  t.true(sumOf(samples, "iir_cache_requests_total", { result: "bypass" }) >= 5);
  t.deepEqual(sorted(labelValues(samples, "iir_cache_requests_total", "result")), ["bypass"]);
});

test("the router's metrics port serves the agent gauges", async (t) => {
  t.not(mesh.router.metricsPort, undefined);
  const routerSamples = await scrape(`http://127.0.0.1:${mesh.router.metricsPort}/metrics`);
  t.is(sumOf(routerSamples, "iir_agent_up", { agent: agent.id }), 1);
  t.is(sumOf(routerSamples, "iir_agent_queue_length", { agent: agent.id }), 0);
  t.is((await fetch(`http://127.0.0.1:${mesh.router.metricsPort}/other`)).status, 404);
});

test("split mode: the model label and the backend wait cross gRPC, in answers and in errors", async (t) => {
  const split = await startSplitMesh(upstream.baseUrl);
  t.teardown(() => split.close());
  const registry = adminRegistry(`http://127.0.0.1:${split.router.port}`);
  await registry.upsertModel({ model: { name: "split/chat", provider: "openai", upstreamModel: "gpt-4o-mini", enabled: true } });
  await registry.upsertModel({ model: { name: "split/broken", provider: "openai", upstreamModel: "fail-503", enabled: true } });
  const client = new OpenAI({ baseURL: `http://127.0.0.1:${split.facade.port}/v1`, apiKey: "unused", maxRetries: 0 });
  const messages = [{ role: "user" as const, content: "split" }];
  await client.chat.completions.create({ model: "split/chat", messages });
  const stream = await client.chat.completions.create({ model: "split/chat", messages, stream: true });
  for await (const chunk of stream) void chunk;
  await client.chat.completions.create({ model: "split/broken", messages }).catch(() => undefined);
  const scraped = await scrapeUntil(`http://127.0.0.1:${split.facade.port}/metrics`, (found) => sumOf(found, "iir_requests_total") >= 3);
  t.is(sumOf(scraped, "iir_requests_total", { ...model("split/chat"), status: "200", backend: "openai" }), 2);
  t.is(sumOf(scraped, "iir_requests_total", { ...model("split/broken"), status: "503" }), 1);
  t.deepEqual(sorted(labelValues(scraped, "iir_requests_total", "gen_ai_request_model")), ["split/broken", "split/chat"]);
  t.is(sumOf(scraped, "iir_gateway_overhead_seconds_count"), 3, "every answer and error carried the router's backend wait");
  t.is(sumOf(scraped, "gen_ai_server_time_to_first_token_count", model("split/chat")), 1);
  const routerScraped = await scrape(`http://127.0.0.1:${split.router.metricsPort}/metrics`);
  t.true(sumOf(routerScraped, "iir_backend_errors_total", { backend: "openai", code: "unavailable" }) >= 1);
  t.is(sumOf(routerScraped, "iir_requests_total"), 0, "request metrics are the facade's, in its own process");
});

function sorted(values: Iterable<string>): string[] {
  return [...values].sort();
}

/** Scrapes until `ready` holds (a response's close handler may run just after its client read it), at most ~5 s. */
async function scrapeUntil(url: string, ready: (samples: PrometheusSample[]) => boolean): Promise<PrometheusSample[]> {
  let scraped = parsePrometheusText("");
  for (let attempt = 0; attempt < 100; attempt++) {
    scraped = await scrape(url);
    if (ready(scraped)) return scraped;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return scraped;
}
