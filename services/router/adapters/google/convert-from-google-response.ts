import { Code, ConnectError } from "@connectrpc/connect";
import { FinishReason, Role, type ChatResponse, type Choice, type ReasoningBlock, type ToolCall } from "../../../../gen/iir/inference/v1/inference_pb.js";
import type { ChatTarget } from "../adapter.js";
import { isRecord, stringOr, type JsonRecord } from "../openai-compatible/json-guards.js";
import { upstreamErrorContext } from "../upstream/upstream-secrets.js";
import { usageFromGoogle } from "./convert-google-usage.js";
import { connectErrorFromGoogleEvent } from "./google-error.js";
import { finishReasonFromGoogle } from "./map-google-finish-reason.js";

/**
 * The contract's response for a Gemini `GenerateContentResponse`. Text parts are the message, thought
 * parts its reasoning, functionCall parts its tool calls (Gemini gives no call ids unless the model
 * sends one: IIR numbers them `call_<n>` within the answer, stable for the same answer). A prompt
 * Gemini blocked (`promptFeedback.blockReason`, no candidates) is an answer with no text and
 * finish reason content_filter, the block reason as the raw reason: OpenAI clients handle that finish
 * reason without an exception, streamed or not, as they do for Azure's filters.
 */
export function chatResponseFromGoogle(json: unknown, target: ChatTarget): ChatResponse {
  if (!isRecord(json)) throw malformed("the body is not a JSON object");
  if (isRecord(json.error)) throw connectErrorFromGoogleEvent(json, upstreamErrorContext(target));
  const candidates = json.candidates;
  if (candidates !== undefined && !Array.isArray(candidates)) throw malformed("candidates is not a list");
  let choices: Choice[];
  if (Array.isArray(candidates) && candidates.length > 0) choices = candidates.map(choiceFromCandidate);
  else {
    const blockReason = blockReasonOf(json);
    if (blockReason === undefined) throw malformed("the answer has neither candidates nor a prompt block reason");
    choices = [blockedChoice(blockReason)];
  }
  return {
    $typeName: "iir.inference.v1.ChatResponse",
    id: stringOr(json.responseId, ""),
    // Gemini's answers carry no time; the answer's arrival stands for it.
    created: BigInt(Math.floor(Date.now() / 1000)),
    model: stringOr(json.modelVersion, target.upstreamModel),
    choices,
    usage: usageFromGoogle(json.usageMetadata),
    backend: target.backend,
    cached: false,
  };
}

/** `promptFeedback.blockReason` of a chunk or answer, when Gemini blocked the prompt. */
export function blockReasonOf(json: JsonRecord): string | undefined {
  const feedback = json.promptFeedback;
  return isRecord(feedback) && typeof feedback.blockReason === "string" && feedback.blockReason !== "" ? feedback.blockReason : undefined;
}

function blockedChoice(blockReason: string): Choice {
  return {
    $typeName: "iir.inference.v1.Choice",
    index: 0,
    message: message("", [], []),
    finishReason: FinishReason.CONTENT_FILTER,
    rawFinishReason: blockReason,
    stopSequence: "",
  };
}

/** What one candidate's parts hold, in order. */
export interface CandidateParts {
  readonly text: string;
  readonly sawText: boolean;
  readonly reasoning: ReasoningBlock[];
  readonly calls: { name: string; arguments: string; id: string | undefined }[];
}

/** Reads a candidate's `content.parts`; a part of another kind (executableCode…) is skipped. */
export function readCandidateParts(candidate: JsonRecord): CandidateParts {
  const parts = isRecord(candidate.content) && Array.isArray(candidate.content.parts) ? candidate.content.parts : [];
  let text = "";
  let sawText = false;
  const reasoning: ReasoningBlock[] = [];
  const calls: CandidateParts["calls"] = [];
  for (const part of parts) {
    if (!isRecord(part)) throw malformed("a content part is not a JSON object");
    const signature = typeof part.thoughtSignature === "string" ? part.thoughtSignature : "";
    if (part.thought === true) {
      reasoning.push(block(stringOr(part.text, ""), signature));
      continue;
    }
    // A signature on an answer part (its first call, or its text) is kept to be sent back with the turn.
    if (signature !== "") reasoning.push(block("", signature));
    if (typeof part.text === "string") {
      text += part.text;
      sawText = true;
    } else if (isRecord(part.functionCall)) {
      const call = part.functionCall;
      calls.push({ name: stringOr(call.name, ""), arguments: JSON.stringify(isRecord(call.args) ? call.args : {}), id: typeof call.id === "string" && call.id !== "" ? call.id : undefined });
    }
  }
  return { text, sawText, reasoning, calls };
}

function choiceFromCandidate(candidate: unknown, position: number): Choice {
  if (!isRecord(candidate)) throw malformed(`candidates[${position}] is not a JSON object`);
  const { text, sawText, reasoning, calls } = readCandidateParts(candidate);
  const toolCalls = calls.map((call, index): ToolCall => ({
    $typeName: "iir.inference.v1.ToolCall",
    id: call.id ?? `call_${index}`,
    type: "function",
    function: { $typeName: "iir.inference.v1.FunctionCall", name: call.name, arguments: call.arguments },
  }));
  const reason = finishReasonFromGoogle(candidate.finishReason, calls.length > 0);
  return {
    $typeName: "iir.inference.v1.Choice",
    index: typeof candidate.index === "number" ? candidate.index : position,
    message: message(sawText || calls.length === 0 ? text : undefined, toolCalls, reasoning),
    // A whole answer has finished: one without a reason (rare) stopped all the same.
    finishReason: reason === FinishReason.UNSPECIFIED ? (calls.length > 0 ? FinishReason.TOOL_CALLS : FinishReason.STOP) : reason,
    rawFinishReason: stringOr(candidate.finishReason, ""),
    stopSequence: "",
  };
}

function message(text: string | undefined, toolCalls: ToolCall[], reasoning: ReasoningBlock[]): Choice["message"] {
  return {
    $typeName: "iir.inference.v1.Message",
    role: Role.ASSISTANT,
    content: text === undefined ? { case: undefined } : { case: "text", value: text },
    name: "",
    toolCalls,
    toolCallId: "",
    extra: undefined,
    reasoning,
    isError: false,
  };
}

function block(text: string, signature: string): ReasoningBlock {
  return { $typeName: "iir.inference.v1.ReasoningBlock", text, signature, redactedData: "" };
}

export function malformed(what: string): ConnectError {
  return new ConnectError(`google upstream returned malformed response: ${what}`, Code.Unavailable);
}
