/**
 * How deep a request may nest, and an iterative check of it.
 *
 * Depth counts containers as the client's JSON nests them: the request body object is level 1,
 * `messages` level 2, one message level 3, `{"a":{"b":1}}` as a whole is 2 levels, and scalars add
 * none. Everything downstream of the facade that walks a request recursively (the cache key's
 * canonical form, JSON.stringify on the way to an upstream, protobuf-es encoding and decoding a
 * google.protobuf.Struct two messages per level) is safe within this bound; the check itself keeps
 * its own stack, so no input can overflow the call stack while it looks.
 */

/** The deepest a chat request may nest, in JSON levels, the body object being level 1. */
export const maximumRequestDepth = 64;

/**
 * The recursion limit protobuf-es must decode requests with (`binaryOptions.recursionLimit` of a
 * Connect server or client). A google.protobuf.Struct costs two messages a JSON level (Struct, then
 * Value), and a request's `extra` starts two messages down (ChatRequest, ChatParams), so the deepest
 * request the facade accepts needs 2 × 64 + 2 = 130; protobuf-es's default of 100 carries only 49
 * levels. Twice the need, so that a request somewhat too deep still decodes and is refused by
 * validateChatParams as InvalidArgument naming its field.
 */
export const protobufRecursionLimit = 4 * maximumRequestDepth;

/** Where a value nests too deep: the path from the value's root to the first container past the limit. */
export interface TooDeep {
  /** Object keys and array indexes from the root down, at most the first `maximumReportedSegments`. */
  readonly path: readonly (string | number)[];
}

// Enough of the path to name the field; a 10,000-level path would make a useless message.
const maximumReportedSegments = 4;

interface Frame {
  readonly value: object;
  readonly depth: number;
  readonly path: readonly (string | number)[];
}

/**
 * Whether `value` holds more than `limit` levels of nested objects and arrays, counting `value`
 * itself as level `rootDepth` when it is a container. Returns where the first too-deep container
 * is, or undefined when the value fits. Walks with an explicit stack and visits each container once,
 * so its cost is bounded by the value's size (already bounded by the body limit) and never by the
 * call stack. Reads own enumerable keys only, as JSON.parse and protobuf-es create them.
 */
export function findTooDeep(value: unknown, limit: number, rootDepth = 1): TooDeep | undefined {
  if (!isContainer(value)) return undefined;
  const stack: Frame[] = [{ value, depth: rootDepth, path: [] }];
  while (stack.length > 0) {
    const frame = stack.pop()!;
    if (frame.depth > limit) return { path: frame.path };
    const childDepth = frame.depth + 1;
    // Paths stop growing past a few segments: they only serve the error message.
    const extend = (segment: string | number) => (frame.path.length < maximumReportedSegments ? [...frame.path, segment] : frame.path);
    if (Array.isArray(frame.value)) {
      for (let index = frame.value.length - 1; index >= 0; index--) {
        const child: unknown = frame.value[index];
        if (isContainer(child)) stack.push({ value: child, depth: childDepth, path: extend(index) });
      }
      continue;
    }
    const keys = Object.keys(frame.value);
    for (let index = keys.length - 1; index >= 0; index--) {
      const key = keys[index]!;
      const child: unknown = (frame.value as Record<string, unknown>)[key];
      if (isContainer(child)) stack.push({ value: child, depth: childDepth, path: extend(key) });
    }
  }
  return undefined;
}

/** A path as OpenAI names parameters: `messages[0].content[1].image_url`; keys longer than 64 characters are cut. */
export function formatJsonPath(prefix: string, path: readonly (string | number)[]): string {
  let text = prefix;
  for (const segment of path) {
    if (typeof segment === "number") text += `[${segment}]`;
    else text += `${text === "" ? "" : "."}${segment.length > 64 ? `${segment.slice(0, 64)}…` : segment}`;
  }
  return text;
}

function isContainer(value: unknown): value is object {
  return typeof value === "object" && value !== null;
}
