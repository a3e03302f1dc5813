import path from "node:path";

/** The model id for a GGUF file: `local/<file name without extension>`. */
export function defaultModelId(modelPath: string): string {
  return `local/${path.basename(modelPath).replace(/\.gguf$/i, "")}`;
}
