import { Code, ConnectError } from "@connectrpc/connect";
import type { LlamaEmbeddingContext, LlamaModel } from "node-llama-cpp";
import { upstreamConnectError } from "../../common/errors.js";
import { createSequenceSlots } from "./sequence-slots.js";

/** Vectors for a batch of texts, in order, and the tokens they took. */
export interface EmbeddingResult {
  readonly vectors: readonly (readonly number[])[];
  /** Tokens evaluated for all the texts (each with the tokens the model adds, such as its begin token). */
  readonly promptTokens: number;
}

/** Computes embeddings with the engine's model, beside its chat context. */
export interface EmbeddingRunner {
  /** Embeds each text; waits in a queue of its own first. InvalidArgument for a text too long for the context. */
  embed(texts: readonly string[], signal: AbortSignal): Promise<EmbeddingResult>;
  /** Requests waiting or running. */
  readonly queued: number;
  close(): Promise<void>;
}

/** How the embedding context is made. */
export interface EmbeddingRunnerOptions {
  readonly model: LlamaModel;
  /** Tokens one text may take, the begin and end tokens included. */
  readonly contextSize: number;
  readonly threads: number;
  /** Requests that may wait for the context. */
  readonly maxQueue: number;
}

/**
 * Embeddings on their own llama.cpp context (node-llama-cpp's embedding context), made on first use:
 * an agent that is never asked for embeddings never pays its memory. Chat keeps its own context and
 * sequences, so embeddings never take a chat sequence or disturb a generation under way; both share
 * the model's weights and the CPU. The embedding context evaluates one text at a time, so requests
 * take turns through a queue (ResourceExhausted when it is full), and a canceled request stops
 * between two texts.
 */
export function createEmbeddingRunner(options: EmbeddingRunnerOptions): EmbeddingRunner {
  const slots = createSequenceSlots(1, options.maxQueue);
  let context: Promise<LlamaEmbeddingContext> | undefined;
  const contextFor = (): Promise<LlamaEmbeddingContext> => {
    context ??= options.model.createEmbeddingContext({ contextSize: options.contextSize, batchSize: options.contextSize, threads: options.threads });
    // A failed creation (out of memory) is not remembered: the next request tries again.
    context.catch(() => (context = undefined));
    return context;
  };
  return {
    get queued() {
      return slots.active + slots.queued;
    },
    async embed(texts, signal) {
      const release = await slots.acquire(signal);
      try {
        const embedding = await contextFor();
        const vectors: number[][] = [];
        let promptTokens = 0;
        for (let index = 0; index < texts.length; index++) {
          if (signal.aborted) throw new ConnectError("the client canceled the request", Code.Canceled);
          const text = texts[index]!;
          const tokens = embedding.calculateInputLength(text);
          if (tokens >= options.contextSize) throw inputTooLong(index, tokens, options.contextSize);
          const { vector } = await embedding.getEmbeddingFor(text);
          vectors.push(Array.from(vector));
          promptTokens += tokens;
        }
        return { vectors, promptTokens };
      } finally {
        release();
      }
    },
    async close() {
      const pending = context;
      context = undefined;
      await (await pending?.catch(() => undefined))?.dispose();
    },
  };
}

function inputTooLong(index: number, tokens: number, contextSize: number): ConnectError {
  return upstreamConnectError(Code.InvalidArgument, {
    httpStatus: 400,
    message: `This model's maximum context length is ${contextSize - 1} tokens, however you requested ${tokens} tokens (input[${index}]). Please reduce your prompt.`,
    type: "invalid_request_error",
    param: "input",
    code: "context_length_exceeded",
    provider: "local",
  });
}
