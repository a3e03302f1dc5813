import { Code, ConnectError } from "@connectrpc/connect";
import { FinishReason, Role, type ChatParams, type ChatResponse, type ChatStreamResponse, type Choice } from "../../../../gen/iir/inference/v1/inference_pb.js";
import type { Logger } from "../../../common/logger.js";
import type { ChatTarget } from "../adapter.js";
import type { ServerSentEvent } from "../upstream/sse-parser.js";
import type { UpstreamProtocol, UpstreamStreamState } from "../upstream/upstream-protocol.js";
import { endpointOf, jsonPost } from "../upstream/upstream-request.js";
import { upstreamErrorContext } from "../upstream/upstream-secrets.js";
import { withoutControlledFields } from "./controlled-request-fields.js";
import { usageFromOpenAI } from "./convert-openai-usage.js";
import { countOf, isRecord, stringOr, type JsonRecord } from "./json-guards.js";
import { finishReasonFromOpenAI } from "./map-openai-finish-reason.js";
import { connectErrorFromUpstreamEvent, connectErrorFromUpstreamResponse, isUpstreamErrorEvent } from "./openai-error.js";

/**
 * OpenAI's (legacy) completions wire format, `POST {base}/completions`, for requests that carry a
 * raw `prompt` (ChatParams.prompt): the upstream continues the text as it is, with no chat template.
 * Translation both ways, the stream included: a `text_completion` choice's `text` is the contract's
 * message text (whole) or text delta (streamed).
 */
export function openAICompletionsProtocol(logger?: Pick<Logger, "debug">): UpstreamProtocol {
  return {
    request(params, target, stream) {
      const { body, droppedFields } = completionsRequestBody(params, target, stream);
      if (droppedFields.length > 0) {
        logger?.debug("request fields dropped: the model's registry entry does not allow them", { backend: target.backend, model: target.upstreamModel, fields: droppedFields });
      }
      const auth = target.apiKey === undefined ? undefined : { authorization: `Bearer ${target.apiKey}` };
      return jsonPost(endpointOf(target.baseUrl, "/completions"), target, JSON.stringify(body), auth, "application/json, text/event-stream");
    },
    response: chatResponseFromTextCompletion,
    streamState: (target) => new TextCompletionStreamState(target),
    errorResponse: (status, body, _headers, target) => connectErrorFromUpstreamResponse(status, body, upstreamErrorContext(target)),
  };
}

/** The completions body: extras first (less the provider's controlled fields), typed fields win. */
export function completionsRequestBody(params: ChatParams, target: Pick<ChatTarget, "upstreamModel" | "provider" | "allowedRequestFields">, stream: boolean): { body: JsonRecord; droppedFields: readonly string[] } {
  const filtered = params.extra === undefined ? undefined : withoutControlledFields(params.extra, target.provider, target.allowedRequestFields);
  const body: JsonRecord = { ...filtered?.extra, model: target.upstreamModel, prompt: params.prompt ?? "" };
  delete body.stream;
  delete body.stream_options;
  if (stream) {
    body.stream = true;
    // The router needs usage even when the client did not ask; the facade decides what it sees.
    body.stream_options = { include_usage: true };
  }
  if (params.maxTokens !== undefined) body.max_tokens = params.maxTokens;
  else if (params.maxCompletionTokens !== undefined) body.max_tokens = params.maxCompletionTokens;
  if (params.temperature !== undefined) body.temperature = params.temperature;
  if (params.topP !== undefined) body.top_p = params.topP;
  if (params.n !== undefined) body.n = params.n;
  if (params.stop.length > 0) body.stop = params.stop;
  if (params.seed !== undefined) body.seed = Number(params.seed);
  if (params.presencePenalty !== undefined) body.presence_penalty = params.presencePenalty;
  if (params.frequencyPenalty !== undefined) body.frequency_penalty = params.frequencyPenalty;
  if (params.user !== "") body.user = params.user;
  return { body, droppedFields: filtered?.dropped ?? [] };
}

/** A `text_completion` body → the contract's response; anything else is Unavailable (another backend may answer). */
export function chatResponseFromTextCompletion(json: unknown, target: ChatTarget): ChatResponse {
  if (!isRecord(json)) throw malformed("the body is not a JSON object");
  if (isUpstreamErrorEvent(json)) throw connectErrorFromUpstreamEvent(json, upstreamErrorContext(target));
  if (!Array.isArray(json.choices)) throw malformed("choices is not a list");
  const choices = json.choices.map((choice: unknown, position: number): Choice => {
    if (!isRecord(choice) || typeof choice.text !== "string") throw malformed(`choices[${position}] has no text`);
    return {
      $typeName: "iir.inference.v1.Choice",
      index: typeof choice.index === "number" ? countOf(choice.index) : position,
      message: { $typeName: "iir.inference.v1.Message", role: Role.ASSISTANT, content: { case: "text", value: choice.text }, name: "", toolCalls: [], toolCallId: "", extra: undefined, reasoning: [], isError: false },
      finishReason: finishReasonFromOpenAI(choice.finish_reason) || FinishReason.STOP,
      rawFinishReason: stringOr(choice.finish_reason, ""),
      stopSequence: "",
    };
  });
  return {
    $typeName: "iir.inference.v1.ChatResponse",
    id: stringOr(json.id, ""),
    created: typeof json.created === "number" && Number.isFinite(json.created) ? BigInt(Math.trunc(json.created)) : 0n,
    model: stringOr(json.model, ""),
    choices,
    usage: usageFromOpenAI(json.usage),
    backend: target.backend,
    cached: false,
  };
}

/** One streamed completion: each `text_completion` chunk → text deltas, finishes, then usage. */
class TextCompletionStreamState implements UpstreamStreamState {
  finished = false;
  private model = "";

  constructor(private readonly target: ChatTarget) {}

  partsFromEvent(event: ServerSentEvent): ChatStreamResponse[] {
    let chunk: unknown;
    try {
      chunk = JSON.parse(event.data);
    } catch {
      throw malformed("a stream event is not JSON");
    }
    if (!isRecord(chunk)) throw malformed("a stream chunk is not a JSON object");
    if (isUpstreamErrorEvent(chunk)) throw connectErrorFromUpstreamEvent(chunk, upstreamErrorContext(this.target));
    if (typeof chunk.model === "string" && chunk.model !== "") this.model = chunk.model;
    const parts: ChatStreamResponse[] = [];
    if (Array.isArray(chunk.choices)) {
      chunk.choices.forEach((choice: unknown, position: number) => this.addChoiceParts(choice, position, parts));
    } else if (chunk.choices !== undefined && chunk.choices !== null) {
      throw malformed("a stream chunk's choices is not a list");
    }
    const usage = usageFromOpenAI(chunk.usage);
    if (usage !== undefined) parts.push(this.part({ case: "usage", value: usage }, 0));
    return parts;
  }

  private addChoiceParts(choice: unknown, position: number, parts: ChatStreamResponse[]): void {
    if (!isRecord(choice)) throw malformed("a stream choice is not a JSON object");
    const index = typeof choice.index === "number" ? countOf(choice.index) : position;
    if (typeof choice.text === "string" && choice.text !== "") {
      parts.push(this.part({ case: "text", value: { $typeName: "iir.inference.v1.TextDelta", text: choice.text } }, index));
    }
    const reason = finishReasonFromOpenAI(choice.finish_reason);
    if (reason === FinishReason.UNSPECIFIED) return;
    this.finished = true;
    parts.push(this.part({ case: "finish", value: { $typeName: "iir.inference.v1.Finish", reason, rawReason: stringOr(choice.finish_reason, ""), stopSequence: "" } }, index));
  }

  private part(event: ChatStreamResponse["event"], choiceIndex: number): ChatStreamResponse {
    return { $typeName: "iir.inference.v1.ChatStreamResponse", event, choiceIndex, backend: this.target.backend, cached: false, model: this.model };
  }
}

function malformed(what: string): ConnectError {
  return new ConnectError(`upstream returned malformed response: ${what}`, Code.Unavailable);
}
