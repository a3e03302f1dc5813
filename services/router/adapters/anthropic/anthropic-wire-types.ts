/**
 * Anthropic's Messages API wire format (JSON), as `POST /v1/messages`, `POST /v1/messages/count_tokens`
 * and `GET /v1/models` speak it. Only this adapter uses these types; upstream bodies are `unknown`
 * until the translators have checked them, so these describe what IIR sends and what it reads.
 */

/** Marks a prefix of the prompt for Anthropic's prompt cache; travels as the client sent it. */
export type AnthropicCacheControl = Record<string, unknown>;

export interface AnthropicTextBlock {
  type: "text";
  text: string;
  cache_control?: AnthropicCacheControl;
}

export interface AnthropicImageBlock {
  type: "image";
  source: { type: "base64"; media_type: string; data: string } | { type: "url"; url: string };
  cache_control?: AnthropicCacheControl;
}

export interface AnthropicToolUseBlock {
  type: "tool_use";
  id: string;
  name: string;
  input: unknown;
  cache_control?: AnthropicCacheControl;
}

export interface AnthropicToolResultBlock {
  type: "tool_result";
  tool_use_id: string;
  content: string | AnthropicContentBlock[];
  is_error?: boolean;
  cache_control?: AnthropicCacheControl;
}

export interface AnthropicThinkingBlock {
  type: "thinking";
  thinking: string;
  signature: string;
}

export interface AnthropicRedactedThinkingBlock {
  type: "redacted_thinking";
  data: string;
}

/** A block IIR does not model (a document, a search result…), passed on exactly as the client sent it. */
export interface AnthropicOtherBlock {
  type: string;
  [field: string]: unknown;
}

export type AnthropicContentBlock =
  | AnthropicTextBlock
  | AnthropicImageBlock
  | AnthropicToolUseBlock
  | AnthropicToolResultBlock
  | AnthropicThinkingBlock
  | AnthropicRedactedThinkingBlock
  | AnthropicOtherBlock;

export interface AnthropicMessage {
  role: "user" | "assistant";
  content: AnthropicContentBlock[];
}

export interface AnthropicTool {
  name: string;
  description?: string;
  input_schema?: unknown;
  /** Set for Anthropic's own tools (`web_search_20250305`…); absent for client tools. */
  type?: string;
  [field: string]: unknown;
}

export type AnthropicToolChoice =
  | { type: "auto" | "any"; disable_parallel_tool_use?: boolean }
  | { type: "tool"; name: string; disable_parallel_tool_use?: boolean }
  | { type: "none" };

/** The body of `POST /v1/messages`; provider extensions from the client's extras ride along. */
export interface AnthropicMessagesRequest {
  model: string;
  messages: AnthropicMessage[];
  max_tokens: number;
  system?: AnthropicTextBlock[];
  stream?: boolean;
  stop_sequences?: string[];
  temperature?: number;
  top_p?: number;
  top_k?: number;
  tools?: AnthropicTool[];
  tool_choice?: AnthropicToolChoice;
  thinking?: { type: "enabled"; budget_tokens: number };
  metadata?: { user_id?: string; [field: string]: unknown };
  [field: string]: unknown;
}

/** The body of `POST /v1/messages/count_tokens`: the prompt only, no sampling or output settings. */
export interface AnthropicCountTokensRequest {
  model: string;
  messages: AnthropicMessage[];
  system?: AnthropicTextBlock[];
  tools?: AnthropicTool[];
  tool_choice?: AnthropicToolChoice;
  thinking?: { type: "enabled"; budget_tokens: number };
}

/** Anthropic's stop reasons (a newer API may add words; those are kept raw). */
export type AnthropicStopReason = "end_turn" | "max_tokens" | "stop_sequence" | "tool_use" | "pause_turn" | "refusal";

/** Anthropic's usage block; every count is input that is billed apart from the others. */
export interface AnthropicUsage {
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

/** Anthropic's error body: `{"type":"error","error":{"type","message"},"request_id"}`. */
export interface AnthropicErrorBody {
  type: "error";
  error: { type: string; message: string };
  request_id?: string;
}

/** One page of `GET /v1/models`. */
export interface AnthropicModelPage {
  data: { id: string; type?: string; display_name?: string; created_at?: string }[];
  has_more: boolean;
  first_id?: string | null;
  last_id?: string | null;
}
