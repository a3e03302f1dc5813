import test, { type ExecutionContext } from "ava";
import { runRouteCommand } from "../cli/commands/route.js";
import { adminRegistry } from "./support/admin.js";
import { startFakeUpstream, type FakeUpstream } from "./support/fake-openai-upstream.js";
import { startMesh, type TestMesh } from "./support/mesh.js";

// `model: "auto"` and a registry router through the real router and facade, over three fake
// OpenAI upstreams of different prices, speeds and capabilities.

interface Setup {
  readonly mesh: TestMesh;
  readonly upstreams: Readonly<Record<"cheap" | "mid" | "strong", FakeUpstream>>;
}

async function setUp(t: ExecutionContext): Promise<Setup> {
  // Slower as they get stronger, as hosted models are; how much does not matter to the choices here.
  const upstreams = {
    cheap: await startFakeUpstream({ defaultScenario: { kind: "answer", headersDelayMs: 5 } }),
    mid: await startFakeUpstream({ defaultScenario: { kind: "answer", headersDelayMs: 30 } }),
    strong: await startFakeUpstream({ defaultScenario: { kind: "answer", headersDelayMs: 90 } }),
  };
  const mesh = await startMesh();
  t.teardown(async () => {
    await mesh.close();
    for (const upstream of Object.values(upstreams)) await upstream.close();
  });
  const registry = adminRegistry(mesh.routerUrl);
  const register = (name: "cheap" | "mid" | "strong", input: number, output: number, capabilities: string[]) =>
    registry.upsertModel({
      model: { name, provider: "openai", baseUrl: upstreams[name].baseUrl, upstreamModel: `gpt-${name}`, inputPricePerMillion: input, outputPricePerMillion: output, capabilities, enabled: true },
    });
  await register("cheap", 0.1, 0.4, []);
  await register("mid", 1, 4, ["tools"]);
  await register("strong", 10, 40, ["tools", "reasoning"]);
  await registry.upsertModel({ model: { name: "auto-cheap", provider: "auto", enabled: true, auto: { candidates: ["cheap", "mid", "strong"], costWeight: 4 } } });
  return { mesh, upstreams };
}

const easy = [{ role: "user", content: "hi" }];
const middling = [{ role: "user", content: "Explain why the sky is blue and compare it with sunsets." }];
const hard = [
  {
    role: "user",
    content:
      "Here is my merge function:\n```ts\nfunction merge(a: number[], b: number[]) { return [...a, ...b].sort((x, y) => x - y); }\n```\n" +
      "Prove step by step that it returns a sorted permutation of its inputs, and analyze its complexity. " +
      "Be careful with duplicates, empty arrays and negative numbers. ".repeat(30),
  },
];
const lookupTool = [{ type: "function", function: { name: "lookup", description: "Looks a word up", parameters: { type: "object", properties: { word: { type: "string" } } } } }];

/** Which upstream got the latest chat request. */
function servedBy(setup: Setup, before: Readonly<Record<string, number>>): string[] {
  return Object.entries(setup.upstreams)
    .filter(([name, upstream]) => chatRequests(upstream) > (before[name] ?? 0))
    .map(([name]) => name);
}

function chatRequests(upstream: FakeUpstream): number {
  return upstream.requests.filter((request) => request.path.startsWith("/v1/chat/completions")).length;
}

function counts(setup: Setup): Record<string, number> {
  return Object.fromEntries(Object.entries(setup.upstreams).map(([name, upstream]) => [name, chatRequests(upstream)]));
}

async function chat(setup: Setup, body: Record<string, unknown>): Promise<{ status: number; route: string | null; served: string[]; text: string }> {
  const before = counts(setup);
  const response = await fetch(`${setup.mesh.facadeUrl}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, route: response.headers.get("x-iir-route"), served: servedBy(setup, before), text };
}

/** What `iir route explain --json` says for the request, from the same registry. */
async function explain(setup: Setup, body: Record<string, unknown>): Promise<{ model: string; header: string }> {
  const lines: string[] = [];
  await runRouteCommand(["explain", JSON.stringify(body), "--json"], setup.mesh.config, { log: (line) => lines.push(line) }, async () => "");
  return JSON.parse(lines.join("\n")) as { model: string; header: string };
}

const field = (header: string | null, name: string) => new RegExp(`(?:^|; )${name}=([^;]*)`).exec(header ?? "")?.[1];

test("easy prompts go to the cheap model, hard ones to the strong model, and x-iir-route says which and why", async (t) => {
  const setup = await setUp(t);
  const greeting = await chat(setup, { model: "auto", messages: easy });
  t.is(greeting.status, 200, greeting.text);
  t.deepEqual(greeting.served, ["cheap"]);
  t.is(field(greeting.route, "model"), "cheap");
  t.is(field(greeting.route, "deployment"), "openai/gpt-cheap");
  t.is(field(greeting.route, "router"), "auto");
  t.false(greeting.route!.includes("127.0.0.1"), "no URL in the header");

  const proof = await chat(setup, { model: "auto", messages: hard });
  t.is(proof.status, 200, proof.text);
  t.deepEqual(proof.served, ["strong"]);
  t.is(field(proof.route, "model"), "strong");
  t.true(Number(field(proof.route, "complexity")) > Number(field(greeting.route, "complexity")));
  t.true(Number(field(proof.route, "cost_usd")) > Number(field(greeting.route, "cost_usd")));
});

test("tool requests go only to models with the tools capability, though a cheaper one exists; streams carry the header too", async (t) => {
  const setup = await setUp(t);
  const whole = await chat(setup, { model: "auto", messages: easy, tools: lookupTool });
  t.is(whole.status, 200, whole.text);
  t.deepEqual(whole.served, ["mid"]);
  t.is(field(whole.route, "model"), "mid");
  const streamed = await chat(setup, { model: "auto", messages: easy, tools: lookupTool, stream: true });
  t.is(streamed.status, 200, streamed.text);
  t.true(streamed.text.includes("data: [DONE]"));
  t.deepEqual(streamed.served, ["mid"]);
  t.is(field(streamed.route, "model"), "mid");
  const streamedEasy = await chat(setup, { model: "auto", messages: easy, stream: true });
  t.deepEqual(streamedEasy.served, ["cheap"]);
  t.is(field(streamedEasy.route, "model"), "cheap");
});

test("a router entry with a high cost weight sends a middling prompt to the cheap model that `auto` would not pick", async (t) => {
  const setup = await setUp(t);
  const plain = await chat(setup, { model: "auto", messages: middling });
  t.deepEqual(plain.served, ["mid"]);
  const frugal = await chat(setup, { model: "auto-cheap", messages: middling });
  t.is(frugal.status, 200, frugal.text);
  t.deepEqual(frugal.served, ["cheap"]);
  t.is(field(frugal.route, "router"), "auto-cheap");
  t.is(field(frugal.route, "model"), "cheap");
});

test("/v1/messages routes through `auto` and relays x-iir-route, streaming or not", async (t) => {
  const setup = await setUp(t);
  for (const stream of [false, true]) {
    const before = counts(setup);
    const response = await fetch(`${setup.mesh.facadeUrl}/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", "anthropic-version": "2023-06-01" },
      body: JSON.stringify({ model: "auto", max_tokens: 64, messages: easy, stream }),
    });
    const text = await response.text();
    t.is(response.status, 200, text);
    t.deepEqual(servedBy(setup, before), ["cheap"]);
    t.is(field(response.headers.get("x-iir-route"), "model"), "cheap");
  }
});

test("`iir route explain` prints the choice the live request made, without calling any upstream", async (t) => {
  const setup = await setUp(t);
  for (const body of [
    { model: "auto", messages: easy },
    { model: "auto", messages: hard },
    { model: "auto", messages: easy, tools: lookupTool },
    { model: "auto-cheap", messages: middling },
  ]) {
    const before = counts(setup);
    const explained = await explain(setup, body);
    t.deepEqual(servedBy(setup, before), [], "explaining calls nobody");
    const live = await chat(setup, body);
    t.is(field(live.route, "model"), explained.model);
    t.is(field(explained.header, "deployment"), field(live.route, "deployment"));
    t.is(field(explained.header, "complexity"), field(live.route, "complexity"));
  }
});

test("a request no candidate can serve is a 400 in OpenAI's format, naming why", async (t) => {
  const setup = await setUp(t);
  const response = await chat(setup, { model: "auto", messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } }] }] });
  t.is(response.status, 400);
  const body = JSON.parse(response.text) as { error: { message: string; type: string } };
  t.regex(body.error.message, /no images capability/);
  t.deepEqual(response.served, []);
});
