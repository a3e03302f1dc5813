import type { ChatParams, Message } from "../../../gen/iir/inference/v1/inference_pb.js";
import { Role } from "../../../gen/iir/inference/v1/inference_pb.js";

/**
 * Estimates how hard a prompt is, in [0, 1]: 0 a greeting, 1 a long proof or a large piece of code
 * to reason about. `auto` routing sends easy prompts to cheap, fast models and hard ones to strong
 * models. Pluggable so that a learned classifier (an agent's embeddings and a labelled set) can
 * replace the heuristic; an implementation must be deterministic and synchronous (it runs on the
 * routing path).
 */
export interface ComplexityClassifier {
  /** A short name for `x-iir-route` and `iir route explain`. */
  readonly name: string;
  estimate(params: ChatParams): number;
}

/** The heuristic's parts, each in [0, 1], for explanations and tests. */
export interface ComplexitySignals {
  readonly length: number;
  readonly code: number;
  readonly math: number;
  readonly reasoning: number;
}

// Words that ask for reasoning rather than recall.
const reasoningCues = [
  /\bprove\b/,
  /\bproof\b/,
  /\bstep[- ]by[- ]step\b/,
  /\banaly[sz]e\b/,
  /\banalysis\b/,
  /\bderive\b/,
  /\bexplain why\b/,
  /\bjustify\b/,
  /\btrade-?offs?\b/,
  /\bcompare\b/,
  /\boptimi[sz]e\b/,
  /\bdebug\b/,
  /\barchitecture\b/,
  /\bdesign\b/,
  /\bcounterexample\b/,
  /\bthink carefully\b/,
];
const codeKeywords = /\b(function|def|class|return|import|const|let|var|public|static|void|struct|fn|impl|SELECT|FROM|WHERE|#include|async|await)\b|=>|\)\s*\{|;\s*$/gm;
const mathSigns = /\\(frac|sum|int|sqrt|lim|prod|forall|exists)|[∑∫√∀∃≤≥≠∞]|\b(theorem|lemma|integral|derivative|equation|matrix|eigen\w*|polynomial|modulo|prime|induction)\b|\d\s*[+\-*/^=]\s*\d/gi;

// How much each signal alone makes a prompt hard; combined as a noisy-or, so any strong signal counts.
const weights: ComplexitySignals = { length: 0.55, code: 0.4, math: 0.4, reasoning: 0.6 };
// Prompt tokens at which length alone counts fully.
const longPromptTokens = 2000;

/** The text of the conversation a model is asked to continue: system and user turns (tool results and answers say less about difficulty). */
function promptText(params: ChatParams): string {
  if (params.prompt !== undefined) return params.prompt;
  return params.messages
    .filter((message) => message.role === Role.SYSTEM || message.role === Role.DEVELOPER || message.role === Role.USER)
    .map(messageText)
    .join("\n");
}

/** A message's text parts joined; images and other parts carry no text. */
export function messageText(message: Message): string {
  if (message.content.case === "text") return message.content.value;
  if (message.content.case === "parts") {
    return message.content.value.parts.map((part) => (part.part.case === "text" ? part.part.value : "")).join("\n");
  }
  return "";
}

/** The heuristic's signals for a prompt. */
export function complexitySignals(params: ChatParams): ComplexitySignals {
  const text = promptText(params);
  const lower = text.toLowerCase();
  const tokens = text.length / 4;
  const length = Math.min(1, Math.log1p(tokens / 50) / Math.log1p(longPromptTokens / 50));
  const keywordCount = text.match(codeKeywords)?.length ?? 0;
  const code = text.includes("```") ? 1 : Math.min(1, keywordCount / 4);
  const math = Math.min(1, (text.match(mathSigns)?.length ?? 0) / 3);
  const cues = reasoningCues.filter((cue) => cue.test(lower)).length;
  const reasoning = Math.min(1, cues / 2);
  return { length, code, math, reasoning };
}

/** Combines signals: 1 − Π(1 − weight·signal). */
export function combineSignals(signals: ComplexitySignals): number {
  let easy = 1;
  for (const key of Object.keys(weights) as (keyof ComplexitySignals)[]) easy *= 1 - weights[key] * signals[key];
  return round(1 - easy);
}

/** The default classifier: prompt length, code, math and reasoning cues (see {@link complexitySignals}). */
export const heuristicComplexity: ComplexityClassifier = {
  name: "heuristic",
  estimate: (params) => combineSignals(complexitySignals(params)),
};

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
