import { Code, ConnectError } from "@connectrpc/connect";
import type { EmbedRequest } from "../../gen/iir/inference/v1/inference_pb.js";
import { findTooDeep, formatJsonPath, maximumRequestDepth } from "./json-depth.js";

/** Inputs one embeddings request may carry: OpenAI's own limit, so a batch any SDK sends fits. */
export const maximumEmbedInputs = 2048;

/**
 * Checks what every backend needs of an embeddings request, for RPC clients that bypass the
 * facade's OpenAI validation (router and agent alike). Throws InvalidArgument naming the field.
 */
export function validateEmbedRequest(request: EmbedRequest): void {
  if (!request.model) throw invalid("model is required");
  if (request.inputs.length === 0) throw invalid("inputs must hold at least one text");
  if (request.inputs.length > maximumEmbedInputs) {
    throw invalid(`inputs holds ${request.inputs.length} texts; at most ${maximumEmbedInputs} are embedded in one request`);
  }
  const empty = request.inputs.findIndex((input) => input === "");
  if (empty !== -1) throw invalid(`inputs[${empty}] is empty: every input must be a non-empty string`);
  if (request.dimensions !== undefined && request.dimensions < 1) throw invalid("dimensions must be at least 1");
  const tooDeep = findTooDeep(request.extra, maximumRequestDepth, 1);
  if (tooDeep !== undefined) {
    throw invalid(`${formatJsonPath("extra", tooDeep.path)} nests objects and arrays deeper than ${maximumRequestDepth} levels; flatten it`);
  }
}

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}
