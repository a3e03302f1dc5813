import test from "ava";
import { create } from "@bufbuild/protobuf";
import { ChatParamsSchema, Role } from "../../../gen/iir/inference/v1/inference_pb.js";
import { complexitySignals, heuristicComplexity } from "./complexity.js";

const ask = (text: string, system?: string) =>
  create(ChatParamsSchema, {
    model: "auto",
    messages: [
      ...(system === undefined ? [] : [{ role: Role.SYSTEM, content: { case: "text" as const, value: system } }]),
      { role: Role.USER, content: { case: "text", value: text } },
    ],
  });

const hardPrompt =
  "Here is my merge function:\n```ts\nfunction merge(a: number[], b: number[]) { return [...a, ...b].sort(); }\n```\n" +
  "Prove step by step that it is correct and analyze its complexity. " +
  "Consider every edge case carefully. ".repeat(40);

test("a greeting is easy, a long code proof is hard, and a question asking why sits between", (t) => {
  const easy = heuristicComplexity.estimate(ask("hi"));
  const middle = heuristicComplexity.estimate(ask("Explain why the sky is blue and compare it with sunsets."));
  const hard = heuristicComplexity.estimate(ask(hardPrompt));
  t.true(easy < 0.1, `hi: ${easy}`);
  t.true(middle > easy && middle < hard, `middle: ${middle}`);
  t.true(hard > 0.75, `hard: ${hard}`);
  for (const value of [easy, middle, hard]) t.true(value >= 0 && value <= 1);
});

test("each signal is read: code fences, math, reasoning cues and length", (t) => {
  t.is(complexitySignals(ask("fix this\n```js\nx()\n```")).code, 1);
  t.true(complexitySignals(ask("Compute \\int_0^1 x^2 dx and the derivative of the polynomial")).math > 0.5);
  t.is(complexitySignals(ask("Prove it, step by step")).reasoning, 1);
  t.is(complexitySignals(ask("hello")).reasoning, 0);
  t.true(complexitySignals(ask("word ".repeat(3000))).length > complexitySignals(ask("word ".repeat(30))).length);
});

test("the system prompt counts, assistant turns do not, and equal prompts give equal estimates", (t) => {
  const withSystem = heuristicComplexity.estimate(ask("hi", "Analyze and prove every claim step by step."));
  t.true(withSystem > heuristicComplexity.estimate(ask("hi")));
  const answered = create(ChatParamsSchema, {
    messages: [
      { role: Role.USER, content: { case: "text", value: "hi" } },
      { role: Role.ASSISTANT, content: { case: "text", value: hardPrompt } },
    ],
  });
  t.is(heuristicComplexity.estimate(answered), heuristicComplexity.estimate(ask("hi")));
  t.is(heuristicComplexity.estimate(ask(hardPrompt)), heuristicComplexity.estimate(ask(hardPrompt)));
});
