import type { JsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { Role, type ChatResponse, type ReasoningBlock, type ToolCall } from "../../../../gen/iir/inference/v1/inference_pb.js";
import type { ChatTarget } from "../adapter.js";
import { isRecord, stringOr, type JsonRecord } from "../openai-compatible/json-guards.js";
import { upstreamErrorContext } from "../upstream/upstream-secrets.js";
import { connectErrorFromAnthropicEvent, isAnthropicError } from "./anthropic-error.js";
import { addAnthropicUsage, noTokens, usageFromAnthropic } from "./convert-anthropic-usage.js";
import { finishReasonFromAnthropic } from "./map-anthropic-stop-reason.js";

/**
 * The contract's response for a Messages API `message` body: text blocks joined as the answer's text,
 * `tool_use` blocks as tool calls (their input as JSON text), thinking blocks as reasoning with their
 * signatures (redacted ones as their data), the stop reason mapped with the raw word and the stop
 * sequence kept. Blocks the contract does not model (server tool results, citations…) are kept in the
 * message's extra as `content_blocks`. A body that is not a message (or an error sent with a 200) is
 * Unavailable, so the router may try another backend.
 */
export function chatResponseFromAnthropic(json: unknown, target: ChatTarget): ChatResponse {
  if (!isRecord(json)) throw malformed("the body is not a JSON object");
  if (isAnthropicError(json)) throw connectErrorFromAnthropicEvent(json, upstreamErrorContext(target));
  if (!Array.isArray(json.content)) throw malformed("content is not a list");
  let text = "";
  const toolCalls: ToolCall[] = [];
  const reasoning: ReasoningBlock[] = [];
  const unmodelled: JsonObject[] = [];
  for (const block of json.content) {
    if (!isRecord(block)) throw malformed("a content block is not a JSON object");
    if (block.type === "text" && typeof block.text === "string") {
      text += block.text;
      if (block.citations !== undefined && block.citations !== null) unmodelled.push(block as JsonObject);
    } else if (block.type === "tool_use") toolCalls.push(toolCallFrom(block));
    else if (block.type === "thinking") reasoning.push(reasoningBlock(stringOr(block.thinking, ""), stringOr(block.signature, ""), ""));
    else if (block.type === "redacted_thinking") reasoning.push(reasoningBlock("", "", stringOr(block.data, "")));
    else unmodelled.push(block as JsonObject);
  }
  const counts = noTokens();
  const sawUsage = addAnthropicUsage(counts, json.usage);
  return {
    $typeName: "iir.inference.v1.ChatResponse",
    id: stringOr(json.id, ""),
    // Anthropic's messages carry no creation time; the answer's arrival stands in for it.
    created: BigInt(Math.floor(Date.now() / 1000)),
    model: stringOr(json.model, ""),
    choices: [
      {
        $typeName: "iir.inference.v1.Choice",
        index: 0,
        message: {
          $typeName: "iir.inference.v1.Message",
          role: Role.ASSISTANT,
          content: { case: "text", value: text },
          name: "",
          toolCalls,
          toolCallId: "",
          extra: unmodelled.length > 0 ? { content_blocks: unmodelled } : undefined,
          reasoning,
          isError: false,
        },
        finishReason: finishReasonFromAnthropic(json.stop_reason),
        rawFinishReason: stringOr(json.stop_reason, ""),
        stopSequence: stringOr(json.stop_sequence, ""),
      },
    ],
    usage: sawUsage ? usageFromAnthropic(counts) : undefined,
    backend: target.backend,
    cached: false,
  };
}

function toolCallFrom(block: JsonRecord): ToolCall {
  return {
    $typeName: "iir.inference.v1.ToolCall",
    id: stringOr(block.id, ""),
    type: "function",
    function: { $typeName: "iir.inference.v1.FunctionCall", name: stringOr(block.name, ""), arguments: JSON.stringify(block.input ?? {}) },
  };
}

function reasoningBlock(text: string, signature: string, redactedData: string): ReasoningBlock {
  return { $typeName: "iir.inference.v1.ReasoningBlock", text, signature, redactedData };
}

function malformed(what: string): ConnectError {
  return new ConnectError(`anthropic upstream returned malformed response: ${what}`, Code.Unavailable);
}
