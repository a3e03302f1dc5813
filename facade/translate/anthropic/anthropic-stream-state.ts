import { FinishReason, type ChatStreamResponse, type ReasoningDelta, type ToolCallDelta, type Usage } from "../../../gen/iir/inference/v1/inference_pb.js";
import type { AnthropicErrorBody } from "./anthropic-types.js";
import { createToolUseId, usageToAnthropic } from "./convert-to-anthropic-response.js";
import { stopReasonToAnthropic } from "./map-anthropic-stop-reason.js";

/** The content block open at the moment: deltas of its kind go into it, any other kind closes it. */
type OpenBlock =
  | { readonly kind: "text" }
  | { readonly kind: "thinking" }
  | { readonly kind: "tool"; readonly callIndex: number };

/** One SSE event in Anthropic's framing: an `event:` line naming the type, then its JSON. */
export function anthropicEvent(type: string, data: unknown): string {
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The `event: error` that ends a stream that failed after it began. */
export function anthropicErrorEvent(body: AnthropicErrorBody): string {
  return anthropicEvent("error", body);
}

/**
 * The per-request state of one Anthropic stream: router parts in, Anthropic's events out, as text.
 * Anthropic numbers content blocks and sends each one as start, deltas, stop, one block at a time:
 * text and thinking deltas extend the open block of their kind; a tool call (by its index) gets its
 * own `tool_use` block whose argument pieces are `input_json_delta`s; a thinking block's signature
 * is its last delta; a redacted thinking block is whole in its start. Only the first choice is
 * streamed (Anthropic answers one). Usage arrives last from the router, so message_start carries
 * zeros and message_delta the whole-message counts (the SDKs overwrite theirs with them).
 */
export class AnthropicStreamState {
  private open: OpenBlock | undefined;
  private blockCount = 0;
  private reason = FinishReason.UNSPECIFIED;
  private rawReason = "";
  private stopSequence = "";
  private hasToolCalls = false;
  private usage: Usage | undefined;

  constructor(
    private readonly id: string,
    private readonly model: string,
  ) {}

  /** message_start (an empty assistant message) and a ping, as Anthropic opens a stream. */
  start(): string {
    const message = {
      id: this.id,
      type: "message",
      role: "assistant",
      model: this.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      stop_details: null,
      usage: usageToAnthropic(undefined),
    };
    return anthropicEvent("message_start", { type: "message_start", message }) + anthropicEvent("ping", { type: "ping" });
  }

  /** The events of one part (often none: usage and finish are told at the end). */
  add(part: ChatStreamResponse): string {
    if (part.choiceIndex !== 0) return "";
    const event = part.event;
    switch (event.case) {
      case "text":
        if (event.value.text === "") return "";
        return this.ensureOpen({ kind: "text" }) + this.delta({ type: "text_delta", text: event.value.text });
      case "reasoning":
        return this.reasoning(event.value);
      case "toolCall":
        return this.toolCall(event.value);
      case "finish":
        this.reason = event.value.reason;
        this.rawReason = event.value.rawReason;
        this.stopSequence = event.value.stopSequence;
        return "";
      case "usage":
        this.usage = event.value;
        return "";
      default:
        return "";
    }
  }

  /** Closes the open block, then message_delta (stop reason, usage) and message_stop. */
  finish(): string {
    const stopReason = stopReasonToAnthropic({ reason: this.reason, rawReason: this.rawReason, stopSequence: this.stopSequence, hasToolCalls: this.hasToolCalls });
    const delta = { stop_reason: stopReason, stop_sequence: stopReason === "stop_sequence" && this.stopSequence !== "" ? this.stopSequence : null, stop_details: null };
    return (
      this.close() +
      anthropicEvent("message_delta", { type: "message_delta", delta, usage: usageToAnthropic(this.usage) }) +
      anthropicEvent("message_stop", { type: "message_stop" })
    );
  }

  private reasoning(value: ReasoningDelta): string {
    let text = "";
    if (value.redactedData !== "") {
      text += this.close() + this.startBlock({ type: "redacted_thinking", data: value.redactedData }) + this.stopBlock();
    }
    if (value.text !== "") text += this.ensureOpen({ kind: "thinking" }) + this.delta({ type: "thinking_delta", thinking: value.text });
    if (value.signature !== "") {
      // The signature seals its block: thinking after it is a new block.
      text += this.ensureOpen({ kind: "thinking" }) + this.delta({ type: "signature_delta", signature: value.signature }) + this.close();
    }
    return text;
  }

  private toolCall(value: ToolCallDelta): string {
    this.hasToolCalls = true;
    let text = "";
    const open = this.open;
    if (open?.kind !== "tool" || open.callIndex !== value.index) {
      text += this.close();
      this.open = { kind: "tool", callIndex: value.index };
      text += this.startBlock({ type: "tool_use", id: value.id || createToolUseId(), name: value.name, input: {} });
    }
    if (value.arguments !== "") text += this.delta({ type: "input_json_delta", partial_json: value.arguments });
    return text;
  }

  private ensureOpen(block: Exclude<OpenBlock, { kind: "tool" }>): string {
    if (this.open?.kind === block.kind) return "";
    const text = this.close();
    this.open = block;
    const content = block.kind === "text" ? { type: "text", text: "" } : { type: "thinking", thinking: "", signature: "" };
    return text + this.startBlock(content);
  }

  private startBlock(content: Record<string, unknown>): string {
    this.blockCount += 1;
    return anthropicEvent("content_block_start", { type: "content_block_start", index: this.blockCount - 1, content_block: content });
  }

  private delta(delta: Record<string, unknown>): string {
    // Text deltas are nearly every event of a stream: written into the template, not built as objects.
    if (delta.type === "text_delta") {
      return `event: content_block_delta\ndata: {"type":"content_block_delta","index":${this.blockCount - 1},"delta":{"type":"text_delta","text":${JSON.stringify(delta.text)}}}\n\n`;
    }
    return anthropicEvent("content_block_delta", { type: "content_block_delta", index: this.blockCount - 1, delta });
  }

  private close(): string {
    if (this.open === undefined) return "";
    this.open = undefined;
    return this.stopBlock();
  }

  private stopBlock(): string {
    return anthropicEvent("content_block_stop", { type: "content_block_stop", index: this.blockCount - 1 });
  }
}
