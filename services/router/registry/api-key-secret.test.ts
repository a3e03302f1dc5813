import { createHash } from "node:crypto";
import test from "ava";
import { displayApiKey, generateApiKey, hashApiKey, redactPresentedKey } from "./api-key-secret.js";

test("keys are iir- and 40 base62 characters, every one different", (t) => {
  const keys = Array.from({ length: 200 }, generateApiKey);
  for (const key of keys) t.regex(key, /^iir-[0-9A-Za-z]{40}$/);
  t.is(new Set(keys).size, keys.length);
  const used = new Set(keys.join("").slice(4));
  t.true(used.size > 55, "the whole alphabet is in use");
});

test("the stored form is the hex SHA-256 of the whole key; listings show only the last 4 characters", (t) => {
  const key = generateApiKey();
  t.is(hashApiKey(key), createHash("sha256").update(key).digest("hex"));
  t.is(displayApiKey(key.slice(-4)), `iir-…${key.slice(-4)}`);
});

test("a presented key is echoed as its first and last 4 characters, or not at all", (t) => {
  t.is(redactPresentedKey("iir-0123456789abcdefWXYZ"), "iir-...WXYZ");
  t.is(redactPresentedKey("short-key"), "(redacted)");
  t.is(redactPresentedKey("iir-0123456789 abcdefWXYZ"), "(redacted)", "odd characters are not echoed");
});
