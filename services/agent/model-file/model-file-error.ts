/** Why a model file cannot be used; one value per failure a user can act on. */
export type ModelFileProblem =
  | "missing"
  | "not-a-file"
  | "unreadable"
  | "not-gguf"
  | "unsupported-version"
  | "truncated"
  | "corrupt"
  | "missing-key";

/**
 * A model file that must not reach the native loader. The message names the file and the reason,
 * ready for a start-up error line: `model file /x/y.gguf is truncated: …`.
 */
export class ModelFileError extends Error {
  override readonly name = "ModelFileError";

  constructor(
    readonly filePath: string,
    readonly problem: ModelFileProblem,
    readonly detail: string,
  ) {
    super(`model file ${filePath} ${describeProblem(problem)}: ${detail}`);
  }
}

function describeProblem(problem: ModelFileProblem): string {
  switch (problem) {
    case "missing":
      return "does not exist";
    case "not-a-file":
      return "is not a regular file";
    case "unreadable":
      return "cannot be read";
    case "not-gguf":
      return "is not a GGUF file";
    case "unsupported-version":
      return "has an unsupported GGUF version";
    case "truncated":
      return "is truncated";
    case "corrupt":
      return "is corrupt";
    case "missing-key":
      return "lacks required metadata";
  }
}

/** The `code` of a Node.js system error (`ENOENT`, `EACCES`…), if it has one. */
export function systemErrorCode(error: unknown): string | undefined {
  if (error instanceof Error && "code" in error && typeof error.code === "string") return error.code;
  return undefined;
}
