/**
 * Most chunks of a stream are the same JSON text but for one string: the delta's content (or
 * reasoning). Id, created, model, fingerprint and the null fields repeat byte for byte from chunk to
 * chunk, and JSON.parse of each — every object, key and value built again — was the largest single
 * cost of a stream through the gateway. A template is the text before and after that string, learned
 * from one parsed chunk; a later chunk that starts and ends with those exact bytes is that chunk with
 * another string in the same place, so its delta is read by slicing, with no JSON.parse.
 *
 * Sound by construction: when the text between prefix and suffix is a complete JSON string body,
 * the chunk is valid JSON equal to the learned one in everything but that value. Anything else —
 * quotes, escapes that do not decode, other bytes around it — is left to JSON.parse.
 */

/** Where a template's string goes: the text or the reasoning of one choice's delta. */
export type TemplateKind = "text" | "reasoning";

export class ChunkTemplate {
  /** Chunks read through this template. */
  uses = 0;

  /**
   * `suffix` may hold one slot whose string varies from chunk to chunk and is never read: OpenAI's
   * `obfuscation` padding. Then `suffix` is the text up to the slot's opening quote and `tail` the
   * text from its closing quote; otherwise `tail` is undefined and the suffix must match whole.
   */
  constructor(
    readonly prefix: string,
    readonly suffix: string,
    readonly tail: string | undefined,
    readonly kind: TemplateKind,
    readonly choiceIndex: number,
  ) {}

  /**
   * The string of a chunk made from this template, decoded; `undefined` when `data` is not such a
   * chunk (the caller parses it then).
   */
  read(data: string): string | undefined {
    const { prefix, suffix, tail } = this;
    const fixedEnd = tail === undefined ? data.length : data.length - tail.length;
    // Slices compared with ===, which compares memory; startsWith/endsWith went character by character, five times slower.
    if (fixedEnd < prefix.length + suffix.length || data.slice(0, prefix.length) !== prefix) return undefined;
    if (tail !== undefined && data.slice(fixedEnd) !== tail) return undefined;
    // The delta's string ends at its first unescaped quote; whether it is a valid string is left to decoding.
    let index = prefix.length;
    let escaped = false;
    for (;;) {
      if (index >= fixedEnd) return undefined;
      const code = data.charCodeAt(index);
      if (code === 0x22) break;
      if (code < 0x20) return undefined;
      if (code === 0x5c) {
        escaped = true;
        index += 2;
      } else {
        index++;
      }
    }
    const suffixEnd = index + suffix.length;
    if (suffixEnd > fixedEnd || data.slice(index, suffixEnd) !== suffix) return undefined;
    if (tail === undefined) {
      if (suffixEnd !== data.length) return undefined;
    } else {
      // The slot's string must be plain text: no quote, escape or control character.
      for (let position = suffixEnd; position < fixedEnd; position++) {
        const code = data.charCodeAt(position);
        if (code === 0x22 || code === 0x5c || code < 0x20) return undefined;
      }
    }
    const body = data.slice(prefix.length, index);
    return escaped ? decodeStringBody(body) : body;
  }
}

/** The string whose JSON text, between quotes, is `body`; `undefined` when that is not one JSON string. */
function decodeStringBody(body: string): string | undefined {
  try {
    return JSON.parse(`"${body}"`) as string;
  } catch {
    return undefined;
  }
}

const obfuscationKey = '"obfuscation":"';

/** The keys each kind's string may stand under in a delta, as the stream translator reads them. */
const keysOfKind: Record<TemplateKind, readonly string[]> = {
  text: ["content"],
  reasoning: ["reasoning_content", "reasoning"],
};

/**
 * A template from a chunk's text whose only part was `kind` with `value` for `choiceIndex`, or
 * `undefined`. The value must appear exactly once, as JSON.stringify writes it under one of the
 * kind's keys; `verify` is then given the chunk with a different value in that place and must read
 * back exactly that value, so a template never stands for some other field that happens to hold the
 * same text.
 */
export function learnChunkTemplate(
  data: string,
  kind: TemplateKind,
  value: string,
  choiceIndex: number,
  verify: (probe: string, probeValue: string) => boolean,
): ChunkTemplate | undefined {
  const written = JSON.stringify(value);
  for (const key of keysOfKind[kind]) {
    const needle = `"${key}":${written}`;
    const at = data.indexOf(needle);
    if (at === -1 || data.lastIndexOf(needle) !== at) continue;
    const prefix = data.slice(0, at + key.length + 4);
    let suffix = data.slice(at + needle.length - 1);
    let tail: string | undefined;
    // OpenAI pads each chunk with random text under `obfuscation`, which no translator reads.
    const slot = suffix.indexOf(obfuscationKey);
    if (slot !== -1) {
      const slotStart = slot + obfuscationKey.length;
      const slotEnd = suffix.indexOf('"', slotStart);
      if (slotEnd !== -1 && suffix.lastIndexOf("\\", slotEnd) < slotStart) {
        tail = suffix.slice(slotEnd);
        suffix = suffix.slice(0, slotStart);
      }
    }
    const probeValue = value === "iir" ? "rii" : "iir";
    if (!verify(`${prefix}${probeValue}${suffix}${tail === undefined ? "" : "x"}${tail ?? ""}`, probeValue)) return undefined;
    return new ChunkTemplate(prefix, suffix, tail, kind, choiceIndex);
  }
  return undefined;
}
