/** Token ids of the tiny model's control tokens (llama/SentencePiece conventions). */
export const TINY_UNK_ID = 0;
export const TINY_BOS_ID = 1;
export const TINY_EOS_ID = 2;
/** Id of the byte token `<0x00>`; byte `b` is token `TINY_FIRST_BYTE_ID + b`. */
export const TINY_FIRST_BYTE_ID = 3;
/** Id of `▁` (U+2581), SentencePiece's space; see createTinyVocabulary. */
export const TINY_SPACE_ID = TINY_FIRST_BYTE_ID + 256;

// llama.cpp's token types (llama_token_type): 1 normal, 2 unknown, 3 control, 6 byte.
const TOKEN_TYPE_NORMAL = 1;
const TOKEN_TYPE_UNKNOWN = 2;
const TOKEN_TYPE_CONTROL = 3;
const TOKEN_TYPE_BYTE = 6;

/**
 * ChatML-shaped Jinja template written with plain text only: `<|im_start|>` is not a token of the
 * byte vocabulary, so it is spelled out byte by byte like any other text. It starts with the BOS
 * token, as llama-family templates do.
 */
export const TINY_CHAT_TEMPLATE =
  "{{ bos_token }}" +
  "{% for message in messages %}" +
  "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}" +
  "{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** The tiny model's vocabulary as the three parallel `tokenizer.ggml.*` arrays. */
export type TinyVocabulary = {
  tokens: string[];
  scores: Float32Array;
  tokenTypes: Int32Array;
};

/**
 * `<unk>`, `<s>`, `</s>`, one token per byte `<0x00>`…`<0xFF>` (so every text tokenizes), and `▁`.
 * The SentencePiece tokenizer turns each space into `▁` before matching; without a `▁` token it
 * falls back to its three UTF-8 bytes, which decode back as "▁", not " ". With it, text round-trips.
 */
export function createTinyVocabulary(): TinyVocabulary {
  const tokens = ["<unk>", "<s>", "</s>"];
  const types = [TOKEN_TYPE_UNKNOWN, TOKEN_TYPE_CONTROL, TOKEN_TYPE_CONTROL];
  for (let byte = 0; byte < 256; byte++) {
    tokens.push(`<0x${byte.toString(16).toUpperCase().padStart(2, "0")}>`);
    types.push(TOKEN_TYPE_BYTE);
  }
  tokens.push("\u2581");
  types.push(TOKEN_TYPE_NORMAL);
  return { tokens, scores: new Float32Array(tokens.length), tokenTypes: Int32Array.from(types) };
}
