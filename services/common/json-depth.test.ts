import test from "ava";
import { findTooDeep, formatJsonPath, maximumRequestDepth } from "./json-depth.js";

/** `{"a":{"a":…1…}}` with `levels` objects, built as text: JSON.stringify itself overflows on the deepest. */
function nestedObjects(levels: number): unknown {
  return JSON.parse(`${'{"a":'.repeat(levels)}1${"}".repeat(levels)}`);
}

test("a value within the limit passes; one level more is found, with its path", (t) => {
  t.is(findTooDeep(nestedObjects(maximumRequestDepth), maximumRequestDepth), undefined);
  t.deepEqual(findTooDeep(nestedObjects(maximumRequestDepth + 1), maximumRequestDepth), { path: ["a", "a", "a", "a"] });
  t.is(findTooDeep(JSON.parse(`${"[".repeat(3)}${"]".repeat(3)}`), 3), undefined);
  t.deepEqual(findTooDeep(JSON.parse(`${"[".repeat(4)}${"]".repeat(4)}`), 3), { path: [0, 0, 0] });
});

test("scalars add no level, and the root may start deeper than 1", (t) => {
  for (const scalar of [null, 0, "", true, "deep"]) t.is(findTooDeep(scalar, 0), undefined);
  t.is(findTooDeep({ a: 1, b: "x", c: null }, 1), undefined);
  t.not(findTooDeep({ a: {} }, 1), undefined);
  t.is(findTooDeep({ a: {} }, 5, 4), undefined);
  t.deepEqual(findTooDeep({ a: {} }, 5, 5), { path: ["a"] });
});

test("the first too-deep branch is named, whichever sibling it is", (t) => {
  const body = { model: "m", messages: [{ role: "user", content: "x" }, { role: "user", content: [[[[]]]] }] };
  t.deepEqual(findTooDeep(body, 5), { path: ["messages", 1, "content", 0] });
  t.is(formatJsonPath("", ["messages", 1, "content", 0]), "messages[1].content[0]");
  t.is(formatJsonPath("params.extra", ["x", 2]), "params.extra.x[2]");
  t.is(formatJsonPath("", ["k".repeat(100)]), `${"k".repeat(64)}…`);
});

test("a million levels are checked without overflowing the call stack", (t) => {
  const levels = 1_000_000;
  const arrays = JSON.parse(`${"[".repeat(levels)}${"]".repeat(levels)}`);
  t.deepEqual(findTooDeep(arrays, maximumRequestDepth)?.path, [0, 0, 0, 0]);
  t.notThrows(() => findTooDeep(nestedObjects(levels), levels));
  t.is(findTooDeep(nestedObjects(levels), levels), undefined);
});

test("keys named like Object.prototype's members are plain keys", (t) => {
  const body = JSON.parse('{"__proto__":{"constructor":{"toString":{"hasOwnProperty":[]}}}}');
  t.deepEqual(findTooDeep(body, 4), { path: ["__proto__", "constructor", "toString", "hasOwnProperty"] });
  t.is(findTooDeep(body, 5), undefined);
});
