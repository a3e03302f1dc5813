import { Code, ConnectError } from "@connectrpc/connect";
import { FinishReason, type ChatStreamResponse } from "../../../../gen/iir/inference/v1/inference_pb.js";
import type { ChatTarget } from "../adapter.js";
import { isRecord, stringOr, type JsonRecord } from "../openai-compatible/json-guards.js";
import type { ServerSentEvent } from "../upstream/sse-parser.js";
import type { UpstreamStreamState } from "../upstream/upstream-protocol.js";
import { upstreamErrorContext } from "../upstream/upstream-secrets.js";
import { connectErrorFromAnthropicEvent } from "./anthropic-error.js";
import { addAnthropicUsage, noTokens, usageFromAnthropic, type AnthropicTokenCounts } from "./convert-anthropic-usage.js";
import { finishReasonFromAnthropic } from "./map-anthropic-stop-reason.js";

/** What one content block of the streamed message is, by its `index`. */
interface OpenBlock {
  readonly type: string;
  /** For a tool_use block: its position among the message's tool calls. */
  readonly toolIndex: number;
  /** For a tool_use block: whether any argument text went out yet. */
  sentArguments: boolean;
}

/** Stream state for one request to `target`. */
export function createAnthropicStreamState(target: ChatTarget): UpstreamStreamState {
  return new AnthropicEventTranslator(target);
}

/**
 * The translation of one Messages API event stream into the contract's small events:
 * `message_start` (model, input usage), `content_block_start`/`_delta`/`_stop` (text, tool calls,
 * thinking with its signature, redacted thinking), `message_delta` (stop reason: the finish part;
 * cumulative usage), `message_stop` (the usage part, once, and the end), `ping` and unknown events
 * (ignored, as Anthropic's versioning asks), `error` (thrown as a ConnectError).
 *
 * Reasoning parts follow the contract's block rule (chat-response-parts.ts): a thinking block's text
 * deltas, then one part with its signature, which closes the block; a redacted block is one part with
 * its data.
 */
class AnthropicEventTranslator implements UpstreamStreamState {
  finished = false;
  private model = "";
  private readonly blocks = new Map<number, OpenBlock>();
  private toolCalls = 0;
  private readonly counts: AnthropicTokenCounts = noTokens();
  private sawUsage = false;
  private sentFinish = false;

  constructor(private readonly target: ChatTarget) {}

  partsFromEvent(event: ServerSentEvent): ChatStreamResponse[] {
    let data: unknown;
    try {
      data = JSON.parse(event.data);
    } catch {
      throw malformed(`the data of a '${event.event}' event is not JSON`);
    }
    if (!isRecord(data)) throw malformed("a stream event is not a JSON object");
    const type = typeof data.type === "string" ? data.type : event.event;
    switch (type) {
      case "message_start":
        return this.messageStart(data);
      case "content_block_start":
        return this.blockStart(data);
      case "content_block_delta":
        return this.blockDelta(data);
      case "content_block_stop":
        return this.blockStop(data);
      case "message_delta":
        return this.messageDelta(data);
      case "message_stop":
        return this.messageStop();
      case "error":
        throw connectErrorFromAnthropicEvent(data, upstreamErrorContext(this.target));
      default:
        return [];
    }
  }

  private messageStart(data: JsonRecord): ChatStreamResponse[] {
    const message = isRecord(data.message) ? data.message : {};
    this.model = stringOr(message.model, this.model);
    if (addAnthropicUsage(this.counts, message.usage)) this.sawUsage = true;
    return [];
  }

  private blockStart(data: JsonRecord): ChatStreamResponse[] {
    const index = indexOf(data);
    const block = isRecord(data.content_block) ? data.content_block : {};
    const type = stringOr(block.type, "");
    const open: OpenBlock = { type, toolIndex: type === "tool_use" ? this.toolCalls++ : -1, sentArguments: false };
    this.blocks.set(index, open);
    switch (type) {
      case "text":
        return typeof block.text === "string" && block.text !== "" ? [this.part({ case: "text", value: { $typeName: "iir.inference.v1.TextDelta", text: block.text } })] : [];
      case "thinking":
        return typeof block.thinking === "string" && block.thinking !== "" ? [this.reasoning(block.thinking, "", "")] : [];
      case "redacted_thinking":
        return [this.reasoning("", "", stringOr(block.data, ""))];
      case "tool_use": {
        // The input arrives as input_json_delta pieces; a proxy may send it whole here instead.
        const input = block.input;
        const whole = isRecord(input) && Object.keys(input).length > 0 ? JSON.stringify(input) : "";
        open.sentArguments = whole !== "";
        return [this.toolCall(open.toolIndex, stringOr(block.id, ""), "function", stringOr(block.name, ""), whole)];
      }
      default:
        return [];
    }
  }

  private blockDelta(data: JsonRecord): ChatStreamResponse[] {
    const open = this.blocks.get(indexOf(data));
    const delta = isRecord(data.delta) ? data.delta : {};
    switch (delta.type) {
      case "text_delta":
        return typeof delta.text === "string" && delta.text !== "" ? [this.part({ case: "text", value: { $typeName: "iir.inference.v1.TextDelta", text: delta.text } })] : [];
      case "input_json_delta": {
        if (open === undefined || open.type !== "tool_use") throw malformed("an input_json_delta for a block that is not a tool_use");
        const piece = stringOr(delta.partial_json, "");
        if (piece === "") return [];
        open.sentArguments = true;
        return [this.toolCall(open.toolIndex, "", "", "", piece)];
      }
      case "thinking_delta":
        return typeof delta.thinking === "string" && delta.thinking !== "" ? [this.reasoning(delta.thinking, "", "")] : [];
      case "signature_delta":
        return [this.reasoning("", stringOr(delta.signature, ""), "")];
      default:
        // citations_delta and deltas a newer API adds.
        return [];
    }
  }

  /** A tool call whose input never came (a tool without parameters) gets `{}`, which clients can parse. */
  private blockStop(data: JsonRecord): ChatStreamResponse[] {
    const open = this.blocks.get(indexOf(data));
    if (open === undefined || open.type !== "tool_use" || open.sentArguments) return [];
    open.sentArguments = true;
    return [this.toolCall(open.toolIndex, "", "", "", "{}")];
  }

  private messageDelta(data: JsonRecord): ChatStreamResponse[] {
    if (addAnthropicUsage(this.counts, data.usage)) this.sawUsage = true;
    const delta = isRecord(data.delta) ? data.delta : {};
    const reason = finishReasonFromAnthropic(delta.stop_reason);
    if (reason === FinishReason.UNSPECIFIED || this.sentFinish) return [];
    this.sentFinish = true;
    const finish = { $typeName: "iir.inference.v1.Finish" as const, reason, rawReason: stringOr(delta.stop_reason, ""), stopSequence: stringOr(delta.stop_sequence, "") };
    return [this.part({ case: "finish", value: finish })];
  }

  /** Usage is sent once, whole: counts reported on the way are cumulative, and readers add usage parts up. */
  private messageStop(): ChatStreamResponse[] {
    if (this.finished) return [];
    this.finished = true;
    return this.sawUsage ? [this.part({ case: "usage", value: usageFromAnthropic(this.counts) })] : [];
  }

  private reasoning(text: string, signature: string, redactedData: string): ChatStreamResponse {
    return this.part({ case: "reasoning", value: { $typeName: "iir.inference.v1.ReasoningDelta", text, signature, redactedData } });
  }

  private toolCall(index: number, id: string, type: string, name: string, argumentsText: string): ChatStreamResponse {
    return this.part({ case: "toolCall", value: { $typeName: "iir.inference.v1.ToolCallDelta", index, id, type, name, arguments: argumentsText } });
  }

  private part(event: ChatStreamResponse["event"]): ChatStreamResponse {
    // A literal rather than create(): protobuf-es v2 messages are plain objects, and this runs per token.
    return { $typeName: "iir.inference.v1.ChatStreamResponse", event, choiceIndex: 0, backend: this.target.backend, cached: false, model: this.model };
  }
}

function indexOf(data: JsonRecord): number {
  return typeof data.index === "number" && Number.isInteger(data.index) ? data.index : 0;
}

function malformed(what: string): ConnectError {
  return new ConnectError(`anthropic upstream returned malformed response: ${what}`, Code.Unavailable);
}
