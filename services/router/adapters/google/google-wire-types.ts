/**
 * The Gemini API's wire format (generativelanguage.googleapis.com, v1beta), as far as IIR writes it.
 * Answers are read as `unknown` through the guards in json-guards.ts, never trusted as these types.
 */

/** One part of a turn: text (or a thought), inline bytes, a file by URI, a function call or its result. */
export interface GooglePart {
  text?: string;
  /** The text is the model's reasoning (with `thinkingConfig.includeThoughts`). */
  thought?: boolean;
  /** Opaque signature of the model's reasoning, to be sent back with the part it came on. */
  thoughtSignature?: string;
  inlineData?: { mimeType: string; data: string };
  fileData?: { mimeType: string; fileUri: string };
  functionCall?: { name: string; args: Record<string, unknown>; id?: string };
  functionResponse?: { name: string; response: Record<string, unknown>; id?: string };
}

/** One turn: Gemini has only two roles; tool results are `user` turns. */
export interface GoogleContent {
  role: "user" | "model";
  parts: GooglePart[];
}

export interface GoogleFunctionDeclaration {
  name: string;
  description?: string;
  /** An OpenAPI 3.0 subset of JSON Schema (convert-json-schema-to-google.ts). */
  parameters?: Record<string, unknown>;
}

export interface GoogleToolConfig {
  functionCallingConfig: { mode: "AUTO" | "ANY" | "NONE"; allowedFunctionNames?: string[] };
}

export interface GoogleGenerationConfig {
  temperature?: number;
  topP?: number;
  topK?: number;
  maxOutputTokens?: number;
  stopSequences?: string[];
  candidateCount?: number;
  seed?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  responseMimeType?: string;
  responseSchema?: Record<string, unknown>;
  thinkingConfig?: { thinkingBudget: number; includeThoughts?: boolean };
}

/** The body of `models/{model}:generateContent` and `:streamGenerateContent`. */
export interface GoogleGenerateContentRequest {
  contents: GoogleContent[];
  systemInstruction?: { parts: GooglePart[] };
  tools?: { functionDeclarations: GoogleFunctionDeclaration[] }[];
  toolConfig?: GoogleToolConfig;
  generationConfig?: GoogleGenerationConfig;
  // Fields without a typed home (safetySettings, cachedContent…) pass through from the request's extras.
  [field: string]: unknown;
}

/** The body of `models/{model}:batchEmbedContents`. */
export interface GoogleBatchEmbedRequest {
  requests: { model: string; content: { parts: { text: string }[] }; outputDimensionality?: number; [field: string]: unknown }[];
}
