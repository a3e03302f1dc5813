import test from "ava";
import { createHeaders } from "./plain-headers.js";

type Operation = readonly ["append" | "set", string, string] | readonly ["delete", string];

/** The same operations on Node's Headers and on plain headers; what each then reads, or the error each threw. */
function bothAfter(init: ConstructorParameters<typeof Headers>[0], operations: readonly Operation[], reads: readonly string[]) {
  const run = (make: (init: ConstructorParameters<typeof Headers>[0]) => Headers) => {
    // Which step threw tells apart a value refused when set from one refused only when copied.
    let step = "construct";
    try {
      const headers = make(init);
      for (const [index, operation] of operations.entries()) {
        step = `operation ${index}`;
        if (operation[0] === "delete") headers.delete(operation[1]);
        else headers[operation[0]](operation[1], operation[2]);
      }
      step = "read";
      const seen: string[] = [];
      headers.forEach((value, name) => seen.push(`${name}=${value}`));
      return {
        entries: [...headers],
        forEach: seen,
        keys: [...headers.keys()],
        values: [...headers.values()],
        reads: reads.map((name) => [headers.get(name), headers.has(name)]),
        cookies: headers.getSetCookie(),
        copied: [...new Headers(headers)],
      };
    } catch (error) {
      return { threw: (error as Error).name, step };
    }
  };
  return { node: run((init) => new Headers(init)), plain: run(createHeaders) };
}

const cases: ReadonlyArray<{ name: string; init?: ConstructorParameters<typeof Headers>[0]; operations?: readonly Operation[]; reads?: readonly string[] }> = [
  { name: "empty", reads: ["x"] },
  { name: "a record, names in any case", init: { "X-Request-Id": "abc", traceparent: "00-1-2-01", "Cache-Control": "no-cache" }, reads: ["x-request-id", "CACHE-CONTROL", "missing"] },
  { name: "pairs, repeated names joined in order", init: [["b", "1"], ["A", "2"], ["b", "3"]], reads: ["b", "a"] },
  { name: "set replaces, append adds, delete removes", operations: [["append", "x", "1"], ["append", "X", "2"], ["set", "y", "3"], ["set", "Y", "4"], ["append", "z", "5"], ["delete", "Z"]], reads: ["x", "y", "z"] },
  { name: "set-cookie kept apart", operations: [["append", "Set-Cookie", "a=1"], ["append", "set-cookie", "b=2"], ["append", "vary", "x"]], reads: ["set-cookie", "vary"] },
  { name: "set-cookie set then deleted", operations: [["append", "set-cookie", "a=1"], ["set", "set-cookie", "c=3"], ["append", "set-cookie", "d=4"], ["delete", "set-cookie"]], reads: ["set-cookie"] },
  { name: "values trimmed of spaces and tabs", operations: [["set", "a", "  padded\t"], ["append", "b", "\t x y "], ["set", "c", ""], ["set", "d", "   "]], reads: ["a", "b", "c", "d"] },
  { name: "iteration sorted by name", init: { zeta: "1", alpha: "2", Mid: "3", "iir-cache": "miss" } },
  { name: "a copy of Node's Headers", init: new Headers([["b", "1"], ["a", "2"], ["set-cookie", "s=1"], ["set-cookie", "t=2"]]), reads: ["a", "set-cookie"] },
  { name: "a name with a space", operations: [["set", "bad name", "x"]] },
  { name: "an empty name", operations: [["append", "", "x"]] },
  { name: "a value with a line break", operations: [["set", "x", "a\r\nInjected: 1"]] },
  { name: "a value with NUL", operations: [["append", "x", "a\0b"]] },
  { name: "a value beyond Latin-1", operations: [["set", "x", "a\u2192b"]] },
  { name: "a Latin-1 value", operations: [["set", "x", "h\u00e9llo"]], reads: ["x"] },
  { name: "a non-token read", reads: ["bad name"] },
  { name: "a pair of three", init: [["a", "1", "2"]] as unknown as [string, string][] },
];

for (const { name, init, operations = [], reads = [] } of cases) {
  test(`plain headers answer as Node's Headers do: ${name}`, (t) => {
    const { node, plain } = bothAfter(init, operations, reads);
    t.deepEqual(plain, node);
  });
}

test("plain headers are Headers to instanceof and to Object.prototype.toString", (t) => {
  const headers = createHeaders({ a: "1" });
  t.true(headers instanceof Headers);
  t.is(Object.prototype.toString.call(headers), "[object Headers]");
});
