import test from "ava";
import { create } from "@bufbuild/protobuf";
import { ChatParamsSchema, Role } from "../../../../gen/iir/inference/v1/inference_pb.js";
import { chatParamsToOpenAIRequest } from "./convert-to-openai-request.js";

// Claude Code marks its system prompt and recent turns with Anthropic's cache_control; through
// /v1/messages those marks ride on the messages. OpenAI and Azure refuse them with a 400.
const params = create(ChatParamsSchema, {
  model: "x/m",
  messages: [
    {
      role: Role.SYSTEM,
      content: { case: "parts", value: { parts: [{ part: { case: "other", value: { type: "text", text: "You are Claude Code.", cache_control: { type: "ephemeral" } } } }] } },
    },
    { role: Role.TOOL, toolCallId: "call_1", content: { case: "text", value: "42" }, extra: { cache_control: { type: "ephemeral" } } },
  ],
});

test("cache_control marks are dropped for providers that refuse them, the text kept", (t) => {
  for (const provider of ["openai", "azure", "groq", "xai", "llm-d"]) {
    const body = JSON.stringify(chatParamsToOpenAIRequest(params, { upstreamModel: "m", provider }, false).request);
    t.false(body.includes("cache_control"), provider);
    t.true(body.includes("You are Claude Code."), provider);
  }
});

test("OpenRouter, which passes them on to Anthropic models, gets them", (t) => {
  const translated = chatParamsToOpenAIRequest(params, { upstreamModel: "m", provider: "openrouter" }, false);
  t.is(JSON.stringify(translated.request).match(/cache_control/g)?.length, 2);
});
