import type { IncomingMessage } from "node:http";
import { findTooDeep, formatJsonPath, maximumRequestDepth } from "../services/common/json-depth.js";
import { OpenAIHttpError } from "./errors.js";

/**
 * Reads a request body of at most `maxBytes` and parses it as JSON.
 *
 * Any content type is accepted, and a missing one too: SDKs send `application/json`, curl's `-d`
 * sends `application/x-www-form-urlencoded`, some clients send nothing; what matters is that the
 * bytes are JSON. A declared length over the limit is refused before a byte is read; a body that
 * grows past it while streaming in is refused as soon as it does. The unread rest is drained by
 * Node after the answer, so the 413 reaches a client that is still sending. A body nested deeper
 * than `maximumRequestDepth` is refused (400, code `nesting_too_deep`) as soon as it is parsed.
 */
export function readJsonBody(request: IncomingMessage, maxBytes: number): Promise<unknown> {
  const encoding = request.headers["content-encoding"];
  if (encoding !== undefined && encoding !== "identity") {
    return Promise.reject(
      new OpenAIHttpError(415, `Unsupported content-encoding '${encoding}': send the JSON body uncompressed.`, "invalid_request_error", "unsupported_content_encoding"),
    );
  }
  const declared = request.headers["content-length"];
  if (declared !== undefined && Number(declared) > maxBytes) return Promise.reject(tooLarge(maxBytes));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const cleanup = () => {
      request.off("data", onData);
      request.off("end", onEnd);
      request.off("error", onError);
      request.off("close", onClose);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > maxBytes) {
        cleanup();
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      try {
        resolve(parseJson(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received)));
      } catch (error) {
        reject(error);
      }
    };
    const onError = () => {
      cleanup();
      reject(new OpenAIHttpError(400, "The request body could not be read.", "invalid_request_error"));
    };
    // A client that hangs up mid-body: settle, so nothing waits on a body that will never come.
    const onClose = () => {
      if (!request.complete) onError();
    };
    request.on("data", onData);
    request.on("close", onClose);
    request.on("end", onEnd);
    request.on("error", onError);
  });
}

function parseJson(bytes: Buffer): unknown {
  let body: unknown;
  try {
    if (bytes.length === 0) throw new SyntaxError("empty body");
    body = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new OpenAIHttpError(
      400,
      "We could not parse the JSON body of your request. (HINT: the API expects a JSON payload, but what was sent was not valid JSON.)",
      "invalid_request_error",
    );
  }
  // Before anything recursive (translation, the cache key, JSON.stringify, protobuf) walks it:
  // V8 parses any depth, but those overflow the call stack on a deep enough body.
  const tooDeep = findTooDeep(body, maximumRequestDepth);
  if (tooDeep !== undefined) throw nestedTooDeep(formatJsonPath("", tooDeep.path));
  return body;
}

function nestedTooDeep(path: string): OpenAIHttpError {
  const where = path === "" ? "" : ` (inside '${path}')`;
  return new OpenAIHttpError(
    400,
    `The request body nests objects and arrays deeper than ${maximumRequestDepth} levels${where}. Flatten the request.`,
    "invalid_request_error",
    "nesting_too_deep",
    path === "" ? null : path,
  );
}

function tooLarge(maxBytes: number): OpenAIHttpError {
  return new OpenAIHttpError(
    413,
    `The request body is larger than the limit of ${maxBytes} bytes.`,
    "invalid_request_error",
    "request_too_large",
  );
}
