import test from "ava";
import { createRetryBudget, isRetryBudgetExhausted, RetryBudgetExhausted } from "./retry-budget.js";
import { ConnectError, Code } from "@connectrpc/connect";

test("a quiet router may still retry the floor's number of times per window", (t) => {
  const budget = createRetryBudget({ percent: 20, windowMs: 10_000, minimum: 3 }, () => 0);
  budget.request();
  t.deepEqual([budget.tryRetry(), budget.tryRetry(), budget.tryRetry(), budget.tryRetry()], [true, true, true, false]);
});

test("above the floor retries stay within the percentage of requests over the window", (t) => {
  let now = 0;
  const budget = createRetryBudget({ percent: 20, windowMs: 10_000, minimum: 3 }, () => now);
  for (let index = 0; index < 100; index++) budget.request();
  let allowed = 0;
  for (let index = 0; index < 100; index++) if (budget.tryRetry()) allowed += 1;
  t.is(allowed, 20);
  // Once the window has passed, the old requests and retries no longer count.
  now = 20_000;
  budget.request();
  t.true(budget.tryRetry());
});

test("the refusal is recognised by its brand, not by ConnectError's instanceof", (t) => {
  t.true(isRetryBudgetExhausted(new RetryBudgetExhausted("openai")));
  t.false(isRetryBudgetExhausted(new ConnectError("x", Code.Unavailable)));
});
