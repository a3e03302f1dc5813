import { FinishReason, type ChatStreamResponse } from "../../../../gen/iir/inference/v1/inference_pb.js";
import type { ChatTarget } from "../adapter.js";
import { isRecord, type JsonRecord } from "../openai-compatible/json-guards.js";
import type { ServerSentEvent } from "../upstream/sse-parser.js";
import type { UpstreamStreamState } from "../upstream/upstream-protocol.js";
import { upstreamErrorContext } from "../upstream/upstream-secrets.js";
import { blockReasonOf, malformed } from "./convert-from-google-response.js";
import { usageFromGoogle } from "./convert-google-usage.js";
import { connectErrorFromGoogleEvent } from "./google-error.js";
import { finishReasonFromGoogle } from "./map-google-finish-reason.js";

/**
 * One streamed Gemini answer (`streamGenerateContent?alt=sse`): each `data:` event is a whole
 * GenerateContentResponse holding the next piece of each candidate. Text and thoughts arrive as
 * deltas, a function call whole in one part (one tool-call delta with id, name and all arguments),
 * the finish reason and the final usage on the last chunk. There is no `[DONE]`: the answer is
 * complete once a finish reason (or a prompt block) arrived.
 */
export function createGoogleStreamState(target: ChatTarget): UpstreamStreamState {
  return new GoogleChunkTranslator(target);
}

class GoogleChunkTranslator implements UpstreamStreamState {
  finished = false;
  private model = "";
  /** Function calls seen so far per candidate: the next call's index and `call_<n>` id. */
  private readonly callsByChoice = new Map<number, number>();

  constructor(private readonly target: ChatTarget) {}

  partsFromEvent(event: ServerSentEvent): ChatStreamResponse[] {
    let chunk: unknown;
    try {
      chunk = JSON.parse(event.data);
    } catch {
      throw malformed("a stream event is not JSON");
    }
    if (!isRecord(chunk)) throw malformed("a stream chunk is not a JSON object");
    if (isRecord(chunk.error)) throw connectErrorFromGoogleEvent(chunk, upstreamErrorContext(this.target));
    if (typeof chunk.modelVersion === "string" && chunk.modelVersion !== "") this.model = chunk.modelVersion;
    const parts: ChatStreamResponse[] = [];
    const candidates = chunk.candidates;
    if (Array.isArray(candidates)) {
      candidates.forEach((candidate, position) => this.addCandidateParts(candidate, position, parts));
    } else if (candidates !== undefined) {
      throw malformed("a stream chunk's candidates is not a list");
    }
    const blockReason = blockReasonOf(chunk);
    if (blockReason !== undefined && !this.finished) {
      this.finished = true;
      parts.push(this.part({ case: "finish", value: { $typeName: "iir.inference.v1.Finish", reason: FinishReason.CONTENT_FILTER, rawReason: blockReason, stopSequence: "" } }, 0));
    }
    // Every chunk repeats the usage so far; only the finished answer's is reported.
    const usage = this.finished ? usageFromGoogle(chunk.usageMetadata) : undefined;
    if (usage !== undefined) parts.push(this.part({ case: "usage", value: usage }, 0));
    return parts;
  }

  private addCandidateParts(candidate: unknown, position: number, parts: ChatStreamResponse[]): void {
    if (!isRecord(candidate)) throw malformed("a stream candidate is not a JSON object");
    const choiceIndex = typeof candidate.index === "number" ? candidate.index : position;
    const content = candidate.content;
    const contentParts = isRecord(content) && Array.isArray(content.parts) ? content.parts : [];
    for (const part of contentParts) {
      if (!isRecord(part)) throw malformed("a streamed content part is not a JSON object");
      this.addPart(part, choiceIndex, parts);
    }
    const raw = candidate.finishReason;
    const reason = finishReasonFromGoogle(raw, (this.callsByChoice.get(choiceIndex) ?? 0) > 0);
    if (reason !== FinishReason.UNSPECIFIED) {
      this.finished = true;
      parts.push(this.part({ case: "finish", value: { $typeName: "iir.inference.v1.Finish", reason, rawReason: String(raw), stopSequence: "" } }, choiceIndex));
    }
  }

  private addPart(part: JsonRecord, choiceIndex: number, parts: ChatStreamResponse[]): void {
    const signature = typeof part.thoughtSignature === "string" ? part.thoughtSignature : "";
    const text = typeof part.text === "string" ? part.text : "";
    if (part.thought === true || signature !== "") {
      // A signature on an answer part travels as a reasoning event of its own, text-less.
      const thought = part.thought === true ? text : "";
      if (thought !== "" || signature !== "") {
        parts.push(this.part({ case: "reasoning", value: { $typeName: "iir.inference.v1.ReasoningDelta", text: thought, signature, redactedData: "" } }, choiceIndex));
      }
      if (part.thought === true) return;
    }
    if (text !== "") {
      parts.push(this.part({ case: "text", value: { $typeName: "iir.inference.v1.TextDelta", text } }, choiceIndex));
    } else if (isRecord(part.functionCall)) {
      const call = part.functionCall;
      const index = this.callsByChoice.get(choiceIndex) ?? 0;
      this.callsByChoice.set(choiceIndex, index + 1);
      parts.push(
        this.part(
          {
            case: "toolCall",
            value: {
              $typeName: "iir.inference.v1.ToolCallDelta",
              index,
              id: typeof call.id === "string" && call.id !== "" ? call.id : `call_${index}`,
              type: "function",
              name: typeof call.name === "string" ? call.name : "",
              arguments: JSON.stringify(isRecord(call.args) ? call.args : {}),
            },
          },
          choiceIndex,
        ),
      );
    }
  }

  private part(event: ChatStreamResponse["event"], choiceIndex: number): ChatStreamResponse {
    return {
      $typeName: "iir.inference.v1.ChatStreamResponse",
      event,
      choiceIndex,
      backend: this.target.backend,
      cached: false,
      model: this.model || this.target.upstreamModel,
    };
  }
}
