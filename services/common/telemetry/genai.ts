import { SpanStatusCode, type Span } from "@opentelemetry/api";
import { Code, ConnectError } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  FinishReason,
  type ChatResponseSchema,
  type ChatStreamResponseSchema,
} from "../../../gen/iir/inference/v1/inference_pb.js";

/** Attribute names from the OpenTelemetry GenAI semantic conventions (still incubating, so copied, not imported). */
export const genAi = {
  operationName: "gen_ai.operation.name",
  requestModel: "gen_ai.request.model",
  responseModel: "gen_ai.response.model",
  providerName: "gen_ai.provider.name",
  inputTokens: "gen_ai.usage.input_tokens",
  outputTokens: "gen_ai.usage.output_tokens",
  finishReasons: "gen_ai.response.finish_reasons",
  tokenType: "gen_ai.token.type",
  errorType: "error.type",
} as const;

/** The one GenAI operation IIR serves. */
export const chatOperation = "chat";

/** GenAI span name: `{operation} {model}`. */
export function chatSpanName(model: string | undefined): string {
  return model ? `${chatOperation} ${model}` : chatOperation;
}

/** A Connect code as `error.type` says it: `unavailable`, `resource_exhausted`… */
export function errorTypeOf(error: unknown): string {
  const name = Code[ConnectError.from(error).code] ?? "unknown";
  return name.replace(/[A-Z]/g, (letter, index: number) => (index === 0 ? "" : "_") + letter.toLowerCase());
}

/** Marks a span failed with the error's Connect code; the message stays out (it may quote a provider). */
export function recordSpanError(span: Span, error: unknown): void {
  const type = errorTypeOf(error);
  span.setAttribute(genAi.errorType, type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: type });
}

const finishReasonNames: Partial<Record<FinishReason, string>> = {
  [FinishReason.STOP]: "stop",
  [FinishReason.LENGTH]: "length",
  [FinishReason.TOOL_CALLS]: "tool_calls",
  [FinishReason.CONTENT_FILTER]: "content_filter",
};

/** Collects what a streamed answer says about itself, and writes it onto its span once it ends. */
export interface AnswerRecorder {
  part(part: MessageInitShape<typeof ChatStreamResponseSchema>): void;
  response(response: MessageInitShape<typeof ChatResponseSchema>): void;
  /** Sets usage, finish reasons and response model on the span (it does not end it). */
  finish(): void;
}

/** An AnswerRecorder for one span. */
export function createAnswerRecorder(span: Span): AnswerRecorder {
  let usage: { promptTokens?: number; completionTokens?: number } | undefined;
  let model: string | undefined;
  const reasons: string[] = [];
  const addReason = (reason: FinishReason | undefined) => {
    const name = reason === undefined ? undefined : finishReasonNames[reason];
    if (name !== undefined) reasons.push(name);
  };
  return {
    part(part) {
      if (part.model) model = part.model;
      if (part.event?.case === "usage") usage = part.event.value;
      else if (part.event?.case === "finish") addReason(part.event.value.reason);
    },
    response(response) {
      model = response.model || model;
      usage = response.usage;
      for (const choice of response.choices ?? []) addReason(choice.finishReason);
    },
    finish() {
      if (model) span.setAttribute(genAi.responseModel, model);
      if (usage !== undefined) {
        span.setAttribute(genAi.inputTokens, usage.promptTokens ?? 0);
        span.setAttribute(genAi.outputTokens, usage.completionTokens ?? 0);
      }
      if (reasons.length > 0) span.setAttribute(genAi.finishReasons, reasons);
    },
  };
}
