import { Code, ConnectError } from "@connectrpc/connect";
import { LlamaCompletion, resolveChatWrapper, type ChatWrapper, type LlamaModel, type LlamaText, type Token } from "node-llama-cpp";
import { FinishReason, type ChatParams } from "../../../gen/iir/inference/v1/inference_pb.js";
import { upstreamConnectError } from "../../common/errors.js";
import { chatHistoryFromMessages } from "./chat-history.js";
import { createPushQueue } from "./push-queue.js";
import type { SequencePool } from "./sequence-pool.js";

/** What a generation yields: text as it is decoded, then one finish with real token counts. */
export type GenerationEvent =
  | { readonly type: "text"; readonly text: string }
  | { readonly type: "finish"; readonly reason: FinishReason; readonly promptTokens: number; readonly completionTokens: number };

/** One request's generation on a sequence of a shared context. */
export interface GenerationRequest {
  readonly model: LlamaModel;
  /** The context's sequences; the one sharing the longest prefix with the prompt is used. */
  readonly sequences: SequencePool;
  readonly contextSize: number;
  readonly params: ChatParams;
  readonly signal: AbortSignal;
  /** Told about every decoded token, for the throughput meter. */
  readonly onTokens: (count: number) => void;
}

const wrappers = new WeakMap<LlamaModel, ChatWrapper>();

/**
 * Renders the messages with the model's own chat template, checks the prompt fits, and streams
 * the completion. Leaving early (the caller went away) aborts decoding within a token and frees
 * the sequence before this generator returns.
 */
export async function* runGeneration(request: GenerationRequest): AsyncGenerator<GenerationEvent> {
  const { model, params } = request;
  const { prompt, stopTriggers, promptTokens } = params.prompt === undefined ? chatPrompt(model, params) : rawPrompt(model, params.prompt);
  if (promptTokens >= request.contextSize) throw contextLengthExceeded(request.contextSize, promptTokens);
  const room = request.contextSize - promptTokens;
  const asked = params.maxCompletionTokens ?? params.maxTokens;
  const maxTokens = asked === undefined ? room : Math.min(asked, room);

  const stop = new AbortController();
  const onOuterAbort = () => stop.abort();
  const lease = request.sequences.take(prompt);
  let completion: LlamaCompletion;
  try {
    completion = new LlamaCompletion({ contextSequence: lease.sequence });
  } catch (error) {
    await lease.release(false);
    throw error;
  }
  request.signal.addEventListener("abort", onOuterAbort, { once: true });
  let failed = false;
  const events = createPushQueue<GenerationEvent>();
  let completionTokens = 0;
  const generation = completion
    .generateCompletionWithMeta(prompt, {
      maxTokens,
      temperature: params.temperature ?? 1,
      ...(params.topP !== undefined ? { topP: params.topP } : {}),
      ...(params.seed !== undefined ? { seed: Number(BigInt.asUintN(32, params.seed)) } : {}),
      customStopTriggers: [...stopTriggers, ...params.stop.filter((text) => text !== "")],
      disableContextShift: true,
      signal: stop.signal,
      stopOnAbortSignal: true,
      onTextChunk: (text) => events.push({ type: "text", text }),
      onToken: (tokens) => {
        completionTokens += tokens.length;
        request.onTokens(tokens.length);
      },
    })
    .then(
      (result) => {
        if (result.metadata.stopReason === "abort") {
          events.fail(new ConnectError("the request was canceled", Code.Canceled));
          return;
        }
        const reason = result.metadata.stopReason === "maxTokens" ? FinishReason.LENGTH : FinishReason.STOP;
        events.push({ type: "finish", reason, promptTokens, completionTokens });
        events.end();
      },
      (error: unknown) => {
        failed = true;
        events.fail(new ConnectError(`generation failed: ${error instanceof Error ? error.message : String(error)}`, Code.Internal));
      },
    );
  try {
    // Text decoded while the previous event was still on its way goes out as one event: fewer,
    // larger messages when the network is slower than decoding, and no waiting when it is not.
    for await (const batch of events.batches()) {
      let text = "";
      for (const event of batch) {
        if (event.type === "text") {
          text += event.text;
          continue;
        }
        if (text !== "") yield { type: "text", text };
        text = "";
        yield event;
      }
      if (text !== "") yield { type: "text", text };
    }
  } finally {
    stop.abort();
    request.signal.removeEventListener("abort", onOuterAbort);
    await generation;
    completion.dispose();
    // Kept with its KV cache for the conversation's next turn; a sequence whose generation failed is not trusted.
    await lease.release(!failed);
  }
}

/** What the model is given: the tokens, the triggers that end the answer, and the prompt's size as the model sees it. */
interface PreparedPrompt {
  readonly prompt: Token[];
  readonly stopTriggers: readonly (LlamaText | string)[];
  readonly promptTokens: number;
}

/** The messages rendered with the model's own chat template, and the template's end-of-turn triggers. */
function chatPrompt(model: LlamaModel, params: ChatParams): PreparedPrompt {
  const state = chatWrapperFor(model).generateContextState({ chatHistory: chatHistoryFromMessages(params.messages) });
  const prompt = state.contextText.tokenize(model.tokenizer);
  return { prompt, stopTriggers: state.stopGenerationTriggers, promptTokens: prompt.length };
}

/**
 * A raw prompt (legacy completions) continued as it is: no chat template and no end-of-turn
 * triggers. LlamaCompletion puts the beginning-of-text token in front where the model expects one,
 * so it is counted here but not added.
 */
export function rawPrompt(model: LlamaModel, text: string): PreparedPrompt {
  const prompt = model.tokenize(text, false, "trimLeadingSpace");
  const withBos = model.tokens.bos !== null && model.tokens.shouldPrependBosToken;
  return { prompt, stopTriggers: [], promptTokens: prompt.length + (withBos ? 1 : 0) };
}

function chatWrapperFor(model: LlamaModel): ChatWrapper {
  let wrapper = wrappers.get(model);
  if (wrapper === undefined) {
    wrapper = resolveChatWrapper(model);
    wrappers.set(model, wrapper);
  }
  return wrapper;
}

/** OpenAI's answer for a prompt that does not fit, so clients recognise it. */
function contextLengthExceeded(contextSize: number, promptTokens: number): ConnectError {
  return upstreamConnectError(Code.InvalidArgument, {
    httpStatus: 400,
    message: `This model's maximum context length is ${contextSize} tokens. However, your messages resulted in ${promptTokens} tokens. Please reduce the length of the messages.`,
    type: "invalid_request_error",
    param: "messages",
    code: "context_length_exceeded",
    provider: "local",
  });
}
