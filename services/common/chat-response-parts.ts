import {
  FinishReason,
  Role,
  type ChatResponse,
  type ChatStreamResponse,
  type Choice,
  type ReasoningBlock,
  type ToolCall,
  type ToolCallDelta,
  type Usage,
} from "../../gen/iir/inference/v1/inference_pb.js";

/**
 * A whole answer as the stream parts it would have been: per choice its reasoning, text, tool calls
 * and finish (with the raw reason and stop sequence), then usage. Used to replay a cached answer and
 * for servers that ignore `stream: true`.
 *
 * Reasoning travels in blocks (Anthropic's thinking blocks must go back to it as they were): a
 * reasoning part with a `signature` ends the block its text belongs to, one with `redacted_data` is a
 * block of its own; reasoning parts without either (OpenAI-compatible servers) make one block. A
 * block is replayed as one part holding its text and signature.
 */
export function partsFromChatResponse(answer: ChatResponse, cached = false): ChatStreamResponse[] {
  const parts: ChatStreamResponse[] = [];
  const part = (event: ChatStreamResponse["event"], choiceIndex: number): ChatStreamResponse => ({
    $typeName: "iir.inference.v1.ChatStreamResponse",
    event,
    choiceIndex,
    backend: answer.backend,
    model: answer.model,
    cached,
  });
  for (const choice of answer.choices) {
    for (const block of choice.message?.reasoning ?? []) {
      parts.push(part({ case: "reasoning", value: { $typeName: "iir.inference.v1.ReasoningDelta", text: block.text, signature: block.signature, redactedData: block.redactedData } }, choice.index));
    }
    const content = choice.message?.content;
    const text = content?.case === "text" ? content.value : "";
    if (text !== "") parts.push(part({ case: "text", value: { $typeName: "iir.inference.v1.TextDelta", text } }, choice.index));
    for (const [index, call] of (choice.message?.toolCalls ?? []).entries()) {
      const value: ToolCallDelta = {
        $typeName: "iir.inference.v1.ToolCallDelta",
        index,
        id: call.id,
        type: call.type,
        name: call.function?.name ?? "",
        arguments: call.function?.arguments ?? "",
      };
      parts.push(part({ case: "toolCall", value }, choice.index));
    }
    const reason = choice.finishReason === FinishReason.UNSPECIFIED ? FinishReason.STOP : choice.finishReason;
    parts.push(part({ case: "finish", value: { $typeName: "iir.inference.v1.Finish", reason, rawReason: choice.rawFinishReason, stopSequence: choice.stopSequence } }, choice.index));
  }
  if (answer.usage) parts.push(part({ case: "usage", value: answer.usage }, 0));
  return parts;
}

interface ChoiceBuilder {
  text: string;
  calls: Map<number, { id: string; type: string; name: string; arguments: string }>;
  finish: FinishReason;
  rawFinishReason: string;
  stopSequence: string;
  /** Reasoning blocks in order; `closed` once a signature or redacted data ended one. */
  reasoning: { text: string; signature: string; redactedData: string; closed: boolean }[];
}

/** Collects stream parts into the whole answer they make up (for the response cache). */
export interface ChatResponseAssembler {
  add(part: ChatStreamResponse): void;
  /** The answer so far; `finished` tells whether every choice reported why it stopped. */
  result(): { response: ChatResponse; finished: boolean };
}

/** An assembler for one stream. */
export function createChatResponseAssembler(): ChatResponseAssembler {
  const choices = new Map<number, ChoiceBuilder>();
  let usage: Usage | undefined;
  let backend = "";
  let model = "";
  const choice = (index: number): ChoiceBuilder => {
    let builder = choices.get(index);
    if (builder === undefined) {
      builder = { text: "", calls: new Map(), finish: FinishReason.UNSPECIFIED, rawFinishReason: "", stopSequence: "", reasoning: [] };
      choices.set(index, builder);
    }
    return builder;
  };
  return {
    add(part) {
      backend ||= part.backend;
      model ||= part.model;
      const event = part.event;
      switch (event.case) {
        case "text":
          choice(part.choiceIndex).text += event.value.text;
          break;
        case "toolCall": {
          const calls = choice(part.choiceIndex).calls;
          const call = calls.get(event.value.index) ?? { id: "", type: "", name: "", arguments: "" };
          call.id ||= event.value.id;
          call.type ||= event.value.type;
          call.name ||= event.value.name;
          call.arguments += event.value.arguments;
          calls.set(event.value.index, call);
          break;
        }
        case "reasoning":
          addReasoning(choice(part.choiceIndex).reasoning, event.value);
          break;
        case "finish": {
          const built = choice(part.choiceIndex);
          built.finish = event.value.reason;
          built.rawFinishReason = event.value.rawReason;
          built.stopSequence = event.value.stopSequence;
          break;
        }
        case "usage":
          usage = event.value;
          break;
        default:
          break;
      }
    },
    result() {
      const ordered = [...choices.entries()].sort(([a], [b]) => a - b);
      // Literals rather than create(), which walks the schema of every nested message. The stored
      // text is flattened: `+=` leaves a rope holding every delta, which the cache would keep.
      const response: ChatResponse = {
        $typeName: "iir.inference.v1.ChatResponse",
        id: "",
        created: 0n,
        model,
        backend,
        cached: false,
        usage,
        choices: ordered.map(([index, built]): Choice => ({
          $typeName: "iir.inference.v1.Choice",
          index,
          finishReason: built.finish,
          rawFinishReason: built.rawFinishReason,
          stopSequence: built.stopSequence,
          message: {
            $typeName: "iir.inference.v1.Message",
            role: Role.ASSISTANT,
            content: { case: "text", value: flattened(built.text) },
            name: "",
            reasoning: built.reasoning.map(
              (block): ReasoningBlock => ({ $typeName: "iir.inference.v1.ReasoningBlock", text: flattened(block.text), signature: block.signature, redactedData: block.redactedData }),
            ),
            isError: false,
            toolCalls: [...built.calls.entries()]
              .sort(([a], [b]) => a - b)
              .map(([, call]): ToolCall => ({
                $typeName: "iir.inference.v1.ToolCall",
                id: call.id,
                type: call.type || "function",
                function: { $typeName: "iir.inference.v1.FunctionCall", name: call.name, arguments: flattened(call.arguments) },
              })),
            toolCallId: "",
          },
        })),
      };
      const finished = ordered.length > 0 && ordered.every(([, built]) => built.finish !== FinishReason.UNSPECIFIED);
      return { response, finished };
    },
  };
}

/** Adds a reasoning part to the blocks it builds (the block rule of partsFromChatResponse). */
function addReasoning(blocks: ChoiceBuilder["reasoning"], delta: { text: string; signature: string; redactedData: string }): void {
  if (delta.redactedData !== "") {
    blocks.push({ text: "", signature: "", redactedData: delta.redactedData, closed: true });
    return;
  }
  let open = blocks.at(-1);
  if (open === undefined || open.closed) {
    open = { text: "", signature: "", redactedData: "", closed: false };
    blocks.push(open);
  }
  open.text += delta.text;
  if (delta.signature !== "") {
    open.signature = delta.signature;
    open.closed = true;
  }
}

/** The same string as one flat sequence: reading a character makes V8 flatten a rope in place. */
function flattened(text: string): string {
  if (text.length > 0) text.charCodeAt(0);
  return text;
}
