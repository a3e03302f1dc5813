import { Code, ConnectError } from "@connectrpc/connect";
import { Role, type ContentPart, type Message } from "../../../../gen/iir/inference/v1/inference_pb.js";
import type { GoogleContent, GooglePart } from "./google-wire-types.js";

/** The turns of a Gemini request, and the system instruction drawn from system and developer messages. */
export interface GoogleMessages {
  readonly contents: GoogleContent[];
  readonly systemInstruction: { parts: GooglePart[] } | undefined;
}

// Google's documented value for a replayed functionCall part whose thought signature the client did
// not keep (ai.google.dev/gemini-api/docs/thought-signatures): Gemini 3 refuses such a part without one.
const skipSignature = "skip_thought_signature_validator";

/**
 * The contract's messages as Gemini turns. Gemini has two roles (user, model), wants the system
 * prompt apart, and takes consecutive turns of one role as one turn (parallel tool results must be
 * one turn), so consecutive messages of one role are merged. Tool results are `functionResponse`
 * parts named after the call they answer: Gemini matches results to calls by name, not id.
 */
export function messagesToGoogle(messages: readonly Message[], upstreamModel: string): GoogleMessages {
  const system: GooglePart[] = [];
  const contents: GoogleContent[] = [];
  const signs = needsSignatures(upstreamModel);
  messages.forEach((message, index) => {
    switch (message.role) {
      case Role.SYSTEM:
      case Role.DEVELOPER:
        system.push(...textParts(message, index));
        return;
      case Role.USER:
        append(contents, "user", contentParts(message, index));
        return;
      case Role.ASSISTANT:
        append(contents, "model", modelParts(message, index, signs));
        return;
      case Role.TOOL:
        append(contents, "user", [functionResponsePart(messages, message, index)]);
        return;
      default:
        throw new ConnectError(`messages[${index}] has no role Gemini accepts`, Code.InvalidArgument);
    }
  });
  return { contents, systemInstruction: system.length > 0 ? { parts: system } : undefined };
}

function append(contents: GoogleContent[], role: GoogleContent["role"], parts: GooglePart[]): void {
  if (parts.length === 0) return;
  const last = contents.at(-1);
  if (last?.role === role) last.parts.push(...parts);
  else contents.push({ role, parts });
}

// Gemini 3 and later check thought signatures on replayed function calls; earlier models have none.
function needsSignatures(model: string): boolean {
  const major = /gemini-(\d+)/.exec(model)?.[1];
  return major !== undefined && Number(major) >= 3;
}

function textParts(message: Message, index: number): GooglePart[] {
  const content = message.content;
  if (content.case === "text") return content.value === "" ? [] : [{ text: content.value }];
  if (content.case !== "parts") return [];
  return content.value.parts.map((part, position) => {
    if (part.part.case !== "text") throw new ConnectError(`messages[${index}].content[${position}]: a system message holds only text on Gemini`, Code.InvalidArgument);
    return { text: part.part.value };
  });
}

function contentParts(message: Message, index: number): GooglePart[] {
  const content = message.content;
  // Gemini refuses a part without data: an empty text (an assistant turn of calls alone) is left out.
  if (content.case === "text") return content.value === "" ? [] : [{ text: content.value }];
  if (content.case !== "parts") return [];
  return content.value.parts.map((part, position) => contentPartToGoogle(part, `messages[${index}].content[${position}]`));
}

function modelParts(message: Message, index: number, signs: boolean): GooglePart[] {
  const parts: GooglePart[] = [];
  let signature: string | undefined;
  for (const block of message.reasoning) {
    if (block.text !== "") parts.push(block.signature === "" ? { text: block.text, thought: true } : { text: block.text, thought: true, thoughtSignature: block.signature });
    // A signature without text came on the answer's first call or text (convert-from-google-response.ts).
    else if (block.signature !== "") signature = block.signature;
  }
  parts.push(...contentParts(message, index));
  message.toolCalls.forEach((call, position) => {
    const name = call.function?.name ?? "";
    const part: GooglePart = { functionCall: { name, args: argumentsOf(call.function?.arguments ?? "", `messages[${index}].tool_calls[${position}]`) } };
    if (position === 0 && signature !== undefined) part.thoughtSignature = signature;
    else if (signs && (position === 0 || signature === undefined)) part.thoughtSignature = skipSignature;
    parts.push(part);
  });
  return parts;
}

function argumentsOf(text: string, where: string): Record<string, unknown> {
  if (text.trim() === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ConnectError(`${where}: the arguments are not JSON`, Code.InvalidArgument);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ConnectError(`${where}: Gemini takes a JSON object as a call's arguments`, Code.InvalidArgument);
  return value as Record<string, unknown>;
}

/** A tool result: `response` is the result's JSON object as it is, or `{content}` (`{error}` for a failure) for any other text. */
function functionResponsePart(messages: readonly Message[], message: Message, index: number): GooglePart {
  const name = message.name !== "" ? message.name : callName(messages, message.toolCallId, index);
  const text = message.content.case === "text" ? message.content.value : message.content.case === "parts" ? message.content.value.parts.map((part) => (part.part.case === "text" ? part.part.value : "")).join("") : "";
  let response: Record<string, unknown> | undefined;
  if (!message.isError && text.trimStart().startsWith("{")) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) response = parsed as Record<string, unknown>;
    } catch {
      // Not JSON after all: sent as text.
    }
  }
  return { functionResponse: { name, response: response ?? (message.isError ? { error: text } : { content: text }) } };
}

/** The name of the call a tool result answers: the latest assistant call with its id before it. */
function callName(messages: readonly Message[], id: string, index: number): string {
  for (let position = index - 1; position >= 0; position--) {
    const call = messages[position]!.toolCalls.find((candidate) => candidate.id === id);
    if (call?.function !== undefined && call.function.name !== "") return call.function.name;
  }
  throw new ConnectError(`messages[${index}] answers tool call '${id}', which no earlier assistant message made: Gemini needs the function's name`, Code.InvalidArgument);
}

// Image types Gemini reads, by file extension, for images given by URL (fileData needs a MIME type).
const imageTypes: ReadonlyMap<string, string> = new Map([
  ["png", "image/png"],
  ["jpg", "image/jpeg"],
  ["jpeg", "image/jpeg"],
  ["webp", "image/webp"],
  ["gif", "image/gif"],
  ["heic", "image/heic"],
  ["heif", "image/heif"],
]);

/**
 * A content part. Images: a `data:` URL is sent inline; an `https:` (or `gs:`) URL goes as fileData,
 * which Gemini fetches itself, typed from the file's extension (JPEG when it has none Gemini knows);
 * any other URL (plain http, a local path) is refused. Audio (`input_audio`) and files with a
 * `data:` URL are sent inline.
 */
function contentPartToGoogle(part: ContentPart, where: string): GooglePart {
  const value = part.part;
  switch (value.case) {
    case "text":
      return { text: value.value };
    case "imageUrl":
      return urlToGoogle(value.value.url, where);
    case "other": {
      const other = value.value;
      const audio = other.input_audio as { data?: unknown; format?: unknown } | undefined;
      if (other.type === "input_audio" && typeof audio?.data === "string") return { inlineData: { mimeType: `audio/${typeof audio.format === "string" ? audio.format : "wav"}`, data: audio.data } };
      const file = other.file as { file_data?: unknown } | undefined;
      if (other.type === "file" && typeof file?.file_data === "string") return urlToGoogle(file.file_data, where);
      throw new ConnectError(`${where}: a content part of type '${String(other.type)}' has no Gemini form`, Code.InvalidArgument);
    }
    default:
      throw new ConnectError(`${where}: an empty content part`, Code.InvalidArgument);
  }
}

const dataUrl = /^data:([^;,]+)(?:;[^,]*)?;base64,(.*)$/s;

function urlToGoogle(url: string, where: string): GooglePart {
  if (url.startsWith("data:")) {
    const match = dataUrl.exec(url);
    if (match === null) throw new ConnectError(`${where}: only base64 data: URLs can be sent to Gemini`, Code.InvalidArgument);
    return { inlineData: { mimeType: match[1]!, data: match[2]! } };
  }
  if (url.startsWith("https://") || url.startsWith("gs://")) {
    const extension = /\.([a-z0-9]+)$/i.exec(url.split(/[?#]/)[0] ?? "")?.[1]?.toLowerCase();
    const mimeType = extension === undefined ? undefined : (imageTypes.get(extension) ?? (extension === "pdf" ? "application/pdf" : undefined));
    return { fileData: { fileUri: url, mimeType: mimeType ?? "image/jpeg" } };
  }
  throw new ConnectError(`${where}: Gemini fetches only https:// (and gs://) URLs; send other images as data: URLs`, Code.InvalidArgument);
}
