import {
  FinishReason,
  Role,
  type ChatResponse,
  type ChatStreamResponse,
  type Choice,
  type ToolCall,
  type ToolCallDelta,
  type Usage,
} from "../../gen/iir/inference/v1/inference_pb.js";

/**
 * A whole answer as the stream parts it would have been: per choice its text, tool calls and
 * finish, then usage. Used to replay a cached answer and for servers that ignore `stream: true`.
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
      builder = { text: "", calls: new Map(), finish: FinishReason.UNSPECIFIED };
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
        case "finish":
          choice(part.choiceIndex).finish = event.value.reason;
          break;
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
          rawFinishReason: "",
          stopSequence: "",
          message: {
            $typeName: "iir.inference.v1.Message",
            role: Role.ASSISTANT,
            content: { case: "text", value: flattened(built.text) },
            name: "",
            reasoning: [],
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

/** The same string as one flat sequence: reading a character makes V8 flatten a rope in place. */
function flattened(text: string): string {
  if (text.length > 0) text.charCodeAt(0);
  return text;
}
