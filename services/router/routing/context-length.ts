import { Code, ConnectError } from "@connectrpc/connect";
import { findUpstreamError } from "../../common/errors.js";

// How providers word a prompt longer than the model's context when they send no code for it:
// Anthropic ("prompt is too long: 210000 tokens > 200000 maximum"), Gemini ("input token count
// (…) exceeds the maximum number of tokens allowed"), vLLM/llama.cpp servers ("maximum context length",
// "exceeds the available context size", "context window").
const contextLengthWording = /prompt is too long|maximum context length|context[ _]length[ _]exceeded|exceeds the (maximum number of tokens|available context size)|context window/i;

/**
 * Whether an attempt failed because the prompt does not fit the model's context: OpenAI's (and the
 * agent's) code `context_length_exceeded`, or the wording of providers that send none. Only
 * InvalidArgument counts: the client's code stays InvalidArgument when no larger model exists.
 */
export function isContextLengthExceeded(error: unknown): boolean {
  const connectError = ConnectError.from(error);
  if (connectError.code !== Code.InvalidArgument) return false;
  const upstream = findUpstreamError(connectError);
  if (upstream?.code === "context_length_exceeded") return true;
  return contextLengthWording.test(upstream?.message ?? connectError.rawMessage);
}
