import { stat } from "node:fs/promises";
import path from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";

/**
 * The path of `fileName` inside the models directory, for LoadModel. Only a bare name of a `.gguf`
 * file directly in the directory is accepted (no separators, no `..`, no hidden files, no NUL), so a
 * caller can never point the agent at another path of the machine; anything else is InvalidArgument,
 * a name that is not there NotFound, and an agent without IIR_AGENT_MODELS_DIR FailedPrecondition.
 */
export async function resolveModelFileName(directory: string | undefined, fileName: string): Promise<string> {
  if (directory === undefined) {
    throw new ConnectError("this agent has no models directory: set IIR_AGENT_MODELS_DIR on it", Code.FailedPrecondition);
  }
  const bare = fileName !== "" && !/[/\\\0]/.test(fileName) && !fileName.startsWith(".") && path.basename(fileName) === fileName;
  if (!bare || !fileName.toLowerCase().endsWith(".gguf")) {
    throw new ConnectError(`file_name must be the name of a .gguf file inside the agent's models directory, got ${JSON.stringify(fileName.slice(0, 200))}`, Code.InvalidArgument);
  }
  const filePath = path.join(directory, fileName);
  try {
    // stat follows links: a link the operator put in the directory may lead to a file elsewhere.
    if (!(await stat(filePath)).isFile()) throw new ConnectError(`"${fileName}" is not a regular file`, Code.InvalidArgument);
  } catch (error) {
    if (error instanceof ConnectError) throw error;
    throw new ConnectError(`no model file "${fileName}" in the agent's models directory`, Code.NotFound);
  }
  return filePath;
}
