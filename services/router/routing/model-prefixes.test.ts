import test from "ava";
import { modelPrefixes, providerForBareName } from "./model-prefixes.js";

test("bare names map to the provider that publishes them", (t) => {
  const expected: Record<string, string | undefined> = {
    "gpt-4o-mini": "openai",
    "gpt-3.5-turbo-instruct": "openai",
    o1: "openai",
    "o1-mini": "openai",
    o3: "openai",
    "o3-mini": "openai",
    "o4-mini": "openai",
    "chatgpt-4o-latest": "openai",
    "text-embedding-3-small": "openai",
    "claude-sonnet-4-5": "anthropic",
    "gemini-2.5-flash": "google",
    "text-embedding-004": "google",
    "grok-4": "xai",
    "llama-3.1-8b": undefined,
    "mixtral-8x7b": undefined,
    o5: undefined,
    "o3x": undefined,
    "gpt-": undefined,
    "openai/gpt-4o": undefined,
    "team/claude-x": undefined,
  };
  for (const [name, provider] of Object.entries(expected)) t.is(providerForBareName(name), provider, name);
});

test("the table names only the providers routing knows by name", (t) => {
  const providers = new Set(modelPrefixes.map((entry) => entry.provider));
  t.deepEqual([...providers].sort(), ["anthropic", "google", "openai", "xai"]);
});
