import type { LlamaContext, LlamaContextSequence, Token } from "node-llama-cpp";

/** A sequence lent to one generation; give it back with {@link SequenceLease.release}. */
export interface SequenceLease {
  readonly sequence: LlamaContextSequence;
  /** Prompt tokens already evaluated in the sequence's KV cache, which this generation does not evaluate again. */
  readonly reusedTokens: number;
  /** `keep`: the sequence's state is sound and stays for a later prompt with the same prefix; otherwise it is disposed (awaited, so its place in the context is free again). */
  release(keep: boolean): Promise<void>;
}

/** The context's sequences, kept between requests so a conversation's next turn reuses its evaluated prefix. */
export interface SequencePool {
  /** The free sequence sharing the longest prefix with `prompt`, else a new one. Callers hold a slot (sequence-slots.ts), so one is always there. */
  take(prompt: readonly Token[]): SequenceLease;
}

/**
 * Sequences are not disposed after a request (that would clear their KV cache): node-llama-cpp's
 * completion evaluates only the tokens after the prefix a sequence already holds, so a turn that
 * repeats the previous turn's prompt skips most of the prompt's evaluation (prefix affinity in the
 * router sends the conversation back here). A new sequence is taken while the context has some
 * left and no free one shares most of what it holds, so one conversation's cache is not
 * overwritten needlessly; with none left, the free one sharing most (oldest first on ties) is taken.
 */
export function createSequencePool(context: LlamaContext): SequencePool {
  const free: LlamaContextSequence[] = [];
  return {
    take(prompt) {
      // LlamaCompletion puts the beginning-of-text token in front of every prompt where the model's
      // vocabulary wants one (even one that starts with it, as a chat template's text may).
      const bos = context.model.tokens.bos;
      const withBos = bos === null ? undefined : [bos, ...prompt];
      let best = -1;
      let shared = 0;
      free.forEach((sequence, index) => {
        const plain = sequence.compareContextTokens(prompt as Token[]).firstDifferentIndex;
        const common = withBos === undefined ? plain : Math.max(plain, sequence.compareContextTokens(withBos).firstDifferentIndex);
        if (common > shared || best < 0) {
          best = index;
          shared = common;
        }
      });
      // While the context has sequences left, a free one is reused only when it keeps more of its
      // cache than it discards: another conversation's document is not overwritten for a shared system prompt.
      const held = best < 0 ? 0 : free[best]!.nextTokenIndex;
      const fresh = best < 0 || (context.sequencesLeft > 0 && (shared <= 1 || held - shared > shared));
      const sequence = fresh ? context.getSequence() : free.splice(best, 1)[0]!;
      let released = false;
      return {
        sequence,
        reusedTokens: fresh ? 0 : shared,
        async release(keep) {
          if (released) return;
          released = true;
          if (keep && !sequence.disposed) free.push(sequence);
          else await sequence.dispose();
        },
      };
    },
  };
}
