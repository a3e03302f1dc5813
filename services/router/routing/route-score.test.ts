import test from "ava";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ModelSchema, type Model } from "../../../gen/iir/registry/v1/registry_pb.js";
import type { RequestNeeds } from "./request-needs.js";
import { expectedOutputTokens, rankCandidates, type RouteWeights, type ScoringCandidate } from "./route-score.js";

const model = (name: string, input: number, output: number, extra: MessageInitShape<typeof ModelSchema> = {}) =>
  create(ModelSchema, { name, provider: "openai", inputPricePerMillion: input, outputPricePerMillion: output, enabled: true, ...extra });
const cheap = model("cheap", 0.1, 0.4);
const mid = model("mid", 1, 4, { capabilities: ["tools"] });
const strong = model("strong", 10, 40, { capabilities: ["tools", "images"], contextLength: 8000 });
const unobserved = (models: Model[]): ScoringCandidate[] => models.map((entry) => ({ model: entry, latency: undefined }));
const defaults: RouteWeights = { costWeight: 0.5, latencyWeight: 0.3, costThreshold: 0 };
const plain: RequestNeeds = { tools: false, images: false, jsonSchema: false, promptTokens: 20, maxOutputTokens: undefined };
const names = (ranking: { ranked: readonly { name: string }[] }) => ranking.ranked.map((entry) => entry.name);

test("easy prompts rank the cheap model first, hard ones the strong model, middling ones the middle", (t) => {
  t.is(names(rankCandidates(plain, 0.02, unobserved([strong, mid, cheap]), defaults))[0], "cheap");
  t.is(names(rankCandidates(plain, 0.6, unobserved([strong, mid, cheap]), defaults))[0], "mid");
  t.is(names(rankCandidates({ ...plain, promptTokens: 1500 }, 0.85, unobserved([strong, mid, cheap]), defaults))[0], "strong");
});

test("a high cost weight moves a middling prompt to the cheap model", (t) => {
  t.is(names(rankCandidates(plain, 0.6, unobserved([strong, mid, cheap]), { ...defaults, costWeight: 4 }))[0], "cheap");
});

test("needs are hard filters: tools, images, json_schema and the context length", (t) => {
  const tools = rankCandidates({ ...plain, tools: true }, 0.02, unobserved([strong, mid, cheap]), defaults);
  t.deepEqual(names(tools), ["mid", "strong"]);
  t.deepEqual(tools.excluded, [{ name: "cheap", reason: "no tools capability" }]);
  t.deepEqual(names(rankCandidates({ ...plain, images: true }, 0.02, unobserved([strong, mid, cheap]), defaults)), ["strong"]);
  t.deepEqual(names(rankCandidates({ ...plain, jsonSchema: true }, 0.02, unobserved([strong, mid, cheap]), defaults)), []);
  const long = rankCandidates({ ...plain, promptTokens: 7000, maxOutputTokens: 2000 }, 0.9, unobserved([strong, mid]), defaults);
  t.deepEqual(names(long), ["mid"]);
  t.regex(long.excluded[0]!.reason, /context is 8000/);
});

test("observed latency counts: of two equal models the faster one wins, an unobserved one gets their mean", (t) => {
  const twin = model("twin", 1, 4);
  const fast = { ttftMs: 50, tokensPerSecond: 200, samples: 10 };
  const slow = { ttftMs: 3000, tokensPerSecond: 10, samples: 10 };
  const ranking = rankCandidates(plain, 0.5, [{ model: twin, latency: slow }, { model: mid, latency: fast }], defaults);
  t.deepEqual(names(ranking), ["mid", "twin"]);
  t.true(ranking.ranked[0]!.latency < ranking.ranked[1]!.latency);
  t.is(rankCandidates(plain, 0.5, unobserved([mid]), defaults).ranked[0]!.latency, 0.5);
  const three = rankCandidates(plain, 0.5, [{ model: twin, latency: slow }, { model: mid, latency: fast }, { model: model("new", 1, 4), latency: undefined }], defaults);
  const part = (name: string) => three.ranked.find((entry) => entry.name === name)!.latency;
  t.true(Math.abs(part("new") - (part("mid") + part("twin")) / 2) < 0.002);
});

test("over the cost threshold a local model goes first; under it the scores stand", (t) => {
  const local = create(ModelSchema, { name: "tiny", provider: "local", enabled: true });
  const request = { ...plain, promptTokens: 2000 };
  const over = rankCandidates(request, 0.9, unobserved([strong, local]), { ...defaults, costThreshold: 0.001 });
  t.deepEqual(names(over), ["tiny", "strong"]);
  t.regex(over.reason, /threshold/);
  t.deepEqual(names(rankCandidates(request, 0.9, unobserved([strong, local]), { ...defaults, costThreshold: 1 })), ["strong", "tiny"]);
});

test("the cost estimate uses prices, prompt tokens and the expected output, capped by max tokens", (t) => {
  t.is(expectedOutputTokens(plain, 0), 200);
  t.is(expectedOutputTokens(plain, 1), 1000);
  t.is(expectedOutputTokens({ ...plain, maxOutputTokens: 64 }, 1), 64);
  const [scored] = rankCandidates({ ...plain, promptTokens: 1000, maxOutputTokens: 100 }, 0, unobserved([strong]), defaults).ranked;
  t.is(scored!.costUsd, (1000 * 10 + 100 * 40) / 1e6);
});

test("equal inputs give the same order, ties broken by name", (t) => {
  const a = model("a", 1, 1);
  const b = model("b", 1, 1);
  t.deepEqual(names(rankCandidates(plain, 0.3, unobserved([b, a]), defaults)), ["a", "b"]);
  t.deepEqual(rankCandidates(plain, 0.3, unobserved([b, a]), defaults), rankCandidates(plain, 0.3, unobserved([a, b]), defaults));
});
