import { Code, ConnectError } from "@connectrpc/connect";
import { FinishReason, type ChatStreamResponse } from "../../../../gen/iir/inference/v1/inference_pb.js";
import type { ChatTarget } from "../adapter.js";
import type { ServerSentEvent } from "../upstream/sse-parser.js";
import type { UpstreamStreamState } from "../upstream/upstream-protocol.js";
import { ChunkTemplate, learnChunkTemplate, type TemplateKind } from "./chunk-template.js";
import { usageFromOpenAI } from "./convert-openai-usage.js";
import { countOf, isRecord, type JsonRecord } from "./json-guards.js";
import { finishReasonFromOpenAI } from "./map-openai-finish-reason.js";
import { connectErrorFromUpstreamEvent, isUpstreamErrorEvent } from "./openai-error.js";
import { upstreamErrorContext } from "../upstream/upstream-secrets.js";

/**
 * What one streamed request has seen so far, and the translation of each upstream
 * `chat.completion.chunk` into the contract's small stream events. One per request.
 */
export interface OpenAIStreamState extends UpstreamStreamState {
  /** Parts for one event's `data` text; throws for an error event or a malformed chunk. */
  partsFromEventData(data: string): ChatStreamResponse[];
  /** Parts for one parsed chunk: reasoning, text, tool-call deltas and finish per choice, then usage. */
  partsFromChunk(chunk: unknown): ChatStreamResponse[];
  /** Whether a choice reported a finish reason: the answer is complete even if `[DONE]` never comes. */
  readonly finished: boolean;
  /** Whether the upstream reported usage. */
  readonly sawUsage: boolean;
}

/** Stream state for one request to `target`. */
export function createOpenAIStreamState(target: ChatTarget): OpenAIStreamState {
  return new OpenAIChunkTranslator(target);
}

class OpenAIChunkTranslator implements OpenAIStreamState {
  finished = false;
  sawUsage = false;
  /** Upstreams name the model in every chunk; kept in case one names it only once. */
  private model = "";
  /** The text around the delta's string that this stream's chunks have repeated (see chunk-template.ts). */
  private template: ChunkTemplate | undefined;
  /** Templates learned that no chunk then matched; after two, this stream learns no more. */
  private unusedTemplates = 0;

  constructor(private readonly target: ChatTarget) {}

  partsFromEvent(event: ServerSentEvent): ChatStreamResponse[] {
    return this.partsFromEventData(event.data);
  }

  partsFromEventData(data: string): ChatStreamResponse[] {
    const template = this.template;
    if (template !== undefined) {
      const text = template.read(data);
      // An empty string is a chunk with no parts; JSON.parse is left to say so.
      if (text !== undefined && text !== "") {
        template.uses++;
        return [this.deltaPart(template.kind, text, template.choiceIndex)];
      }
    }
    let chunk: unknown;
    try {
      chunk = JSON.parse(data);
    } catch {
      throw malformed("a stream event is not JSON");
    }
    const parts = this.partsFromChunk(chunk);
    if (parts.length === 1 && this.unusedTemplates < 2) this.learnFrom(data, chunk as JsonRecord, parts[0]!);
    return parts;
  }

  /** Takes the chunk's text as the template for the next ones when its one part is a text or reasoning delta. */
  private learnFrom(data: string, chunk: JsonRecord, part: ChatStreamResponse): void {
    const event = part.event;
    if (event.case !== "text" && event.case !== "reasoning") return;
    // The first chunk names the role, which the next ones leave out: no template would match them.
    const choices = chunk.choices;
    const first = Array.isArray(choices) && choices.length === 1 && isRecord(choices[0]) ? choices[0].delta : undefined;
    if (isRecord(first) && first.role !== undefined) return;
    // A template no chunk matched, or a chunk no template could be learned from, counts against
    // learning: streams whose chunks differ in more than the delta stop paying for it after two.
    if (this.template !== undefined && this.template.uses === 0) this.unusedTemplates++;
    this.template = undefined;
    if (this.unusedTemplates >= 2) return;
    this.template = learnChunkTemplate(data, event.case, event.value.text, part.choiceIndex, (probe, probeValue) => {
      const { model, finished, sawUsage } = this;
      try {
        const probed = this.partsFromChunk(JSON.parse(probe));
        const only = probed.length === 1 ? probed[0]! : undefined;
        return only !== undefined && only.choiceIndex === part.choiceIndex && only.event.case === event.case && only.event.value.text === probeValue;
      } catch {
        return false;
      } finally {
        this.model = model;
        this.finished = finished;
        this.sawUsage = sawUsage;
      }
    });
    if (this.template === undefined) this.unusedTemplates++;
  }

  partsFromChunk(chunk: unknown): ChatStreamResponse[] {
    if (!isRecord(chunk)) throw malformed("a stream chunk is not a JSON object");
    if (isUpstreamErrorEvent(chunk)) throw connectErrorFromUpstreamEvent(chunk, upstreamErrorContext(this.target));
    if (typeof chunk.model === "string" && chunk.model !== "") this.model = chunk.model;
    const parts: ChatStreamResponse[] = [];
    const choices = chunk.choices;
    if (Array.isArray(choices)) {
      for (let position = 0; position < choices.length; position++) this.addChoiceParts(choices[position], position, parts);
    } else if (choices !== undefined && choices !== null) {
      throw malformed("a stream chunk's choices is not a list");
    }
    // Groq reports streamed usage under `x_groq` when a server ignores stream_options.
    const usage = usageFromOpenAI(chunk.usage ?? (isRecord(chunk.x_groq) ? chunk.x_groq.usage : undefined));
    if (usage !== undefined) {
      this.sawUsage = true;
      parts.push(this.part({ case: "usage", value: usage }, 0));
    }
    return parts;
  }

  private addChoiceParts(choice: unknown, position: number, parts: ChatStreamResponse[]): void {
    if (!isRecord(choice)) throw malformed("a stream choice is not a JSON object");
    const choiceIndex = typeof choice.index === "number" ? countOf(choice.index) : position;
    const delta = choice.delta;
    if (isRecord(delta)) {
      // DeepSeek and vLLM name it `reasoning_content`, OpenRouter and Ollama `reasoning`.
      const reasoning = typeof delta.reasoning_content === "string" ? delta.reasoning_content : delta.reasoning;
      if (typeof reasoning === "string" && reasoning !== "") {
        parts.push(this.deltaPart("reasoning", reasoning, choiceIndex));
      }
      if (typeof delta.content === "string" && delta.content !== "") {
        parts.push(this.deltaPart("text", delta.content, choiceIndex));
      }
      if (Array.isArray(delta.tool_calls)) this.addToolCallParts(delta.tool_calls, choiceIndex, parts);
    }
    const reason = finishReasonFromOpenAI(choice.finish_reason);
    if (reason !== FinishReason.UNSPECIFIED) {
      this.finished = true;
      parts.push(this.part({ case: "finish", value: { $typeName: "iir.inference.v1.Finish", reason, rawReason: typeof choice.finish_reason === "string" ? choice.finish_reason : "", stopSequence: "" } }, choiceIndex));
    }
  }

  private addToolCallParts(calls: unknown[], choiceIndex: number, parts: ChatStreamResponse[]): void {
    for (let position = 0; position < calls.length; position++) {
      const call = calls[position];
      if (!isRecord(call)) throw malformed("a streamed tool call is not a JSON object");
      const fn: JsonRecord = isRecord(call.function) ? call.function : {};
      parts.push(
        this.part(
          {
            case: "toolCall",
            value: {
              $typeName: "iir.inference.v1.ToolCallDelta",
              // Some servers leave out `index` when they send whole calls; their order is the index then.
              index: typeof call.index === "number" ? countOf(call.index) : position,
              id: typeof call.id === "string" ? call.id : "",
              type: typeof call.type === "string" ? call.type : "",
              name: typeof fn.name === "string" ? fn.name : "",
              arguments: typeof fn.arguments === "string" ? fn.arguments : "",
            },
          },
          choiceIndex,
        ),
      );
    }
  }

  /** A text or reasoning delta: what a template reads, and the usual chunk's one part. */
  private deltaPart(kind: TemplateKind, text: string, choiceIndex: number): ChatStreamResponse {
    return this.part(
      kind === "text" ? { case: "text", value: { $typeName: "iir.inference.v1.TextDelta", text } } : { case: "reasoning", value: { $typeName: "iir.inference.v1.ReasoningDelta", text, signature: "", redactedData: "" } },
      choiceIndex,
    );
  }

  private part(event: ChatStreamResponse["event"], choiceIndex: number): ChatStreamResponse {
    // A literal rather than create(): protobuf-es v2 messages are plain objects, and this runs per token.
    return {
      $typeName: "iir.inference.v1.ChatStreamResponse",
      event,
      choiceIndex,
      backend: this.target.backend,
      cached: false,
      model: this.model,
    };
  }
}

function malformed(what: string): ConnectError {
  return new ConnectError(`upstream returned malformed response: ${what}`, Code.Unavailable);
}
