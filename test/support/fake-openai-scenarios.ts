import type http from "node:http";
import type { FakeErrorFields, FakeRequestBody, FakeToolCall } from "./fake-openai-answers.js";

/**
 * The behaviours of the fake OpenAI upstream (fake-openai-upstream.ts), and the model names that
 * pick them for tests that can only choose a model, e.g. end to end through the gateway.
 */

/** One request as the fake received it. */
export interface RecordedRequest {
  readonly method: string;
  /** The path with its query, e.g. `/v1/chat/completions`. */
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  /** The parsed JSON body; `{}` when it was not a JSON object. */
  readonly body: FakeRequestBody;
  readonly rawBody: string;
  /** The client's port: requests on one kept-alive connection share it. */
  readonly remotePort: number;
  /** The behaviour that answered (`answer`, `tool-calls`, `error`…). */
  scenario: Scenario["kind"] | "unauthorized" | "models" | "not-found";
  /** Whether the client closed the connection before this answer finished. */
  closedByClient: boolean;
}

/** How answers are cut into writes, to exercise an SSE parser. */
export interface WireOptions {
  /** Line ending of the event stream (default "\n"). */
  readonly lineEnding?: "\n" | "\r\n" | "\r";
  /** Bytes per write, cycled over the whole stream (cuts through lines and UTF-8 characters); default one write per event. */
  readonly writeSizes?: readonly number[];
  /** A `: keep-alive` comment before every event. */
  readonly keepAliveComments?: boolean;
  /** Pause between writes, ms (default 0; 1 when writeSizes is set, so writes arrive apart). */
  readonly delayMs?: number;
}

interface ScenarioBase {
  /** How this answer is written; overrides the upstream's `wire` option. */
  readonly wire?: WireOptions;
  /** Wait before anything is sent, ms. */
  readonly headersDelayMs?: number;
}

/** A behaviour for one request. */
export type Scenario =
  | (ScenarioBase & {
      readonly kind: "answer";
      /** Answer text (default `echo: <last user message>`). */
      readonly text?: string;
      /** Stream deltas (default: the text split per word). */
      readonly deltas?: readonly string[];
      readonly finishReason?: string;
      /** Usage to report; `null` leaves it out. */
      readonly usage?: Record<string, unknown> | null;
    })
  | (ScenarioBase & { readonly kind: "tool-calls"; readonly calls?: readonly FakeToolCall[]; readonly allTools?: boolean })
  | (ScenarioBase & {
      readonly kind: "error";
      readonly status: number;
      /** OpenAI's error object (default: one fitting the status). */
      readonly error?: FakeErrorFields;
      /** A raw body instead of `{"error": …}`, e.g. an HTML page. */
      readonly body?: string;
      readonly contentType?: string;
      readonly headers?: Readonly<Record<string, string>>;
    })
  | (ScenarioBase & { readonly kind: "drop-mid-stream"; readonly afterChunks?: number })
  | (ScenarioBase & { readonly kind: "error-mid-stream"; readonly afterChunks?: number; readonly error?: FakeErrorFields })
  | (ScenarioBase & {
      readonly kind: "hang";
      /** Chunks sent before the silence; undefined: not even headers. */
      readonly afterChunks?: number;
    })
  | (ScenarioBase & {
      readonly kind: "raw";
      readonly status?: number;
      readonly headers?: Readonly<Record<string, string>>;
      /** Written as they are, one write each. */
      readonly chunks: readonly (string | Uint8Array)[];
    })
  | { readonly kind: "custom"; handle(request: RecordedRequest, response: http.ServerResponse): void | Promise<void> };

export const defaultFailureAfterChunks = 2;
const stressWire: WireOptions = { lineEnding: "\r\n", writeSizes: [1, 3, 2, 7, 5, 13, 11], keepAliveComments: true };

/** The behaviours model names choose; fake-openai-upstream.ts describes each. */
export const modelScenarios: Readonly<Record<string, Scenario>> = {
  "fail-400": { kind: "error", status: 400 },
  "fail-401": { kind: "error", status: 401 },
  "fail-403": { kind: "error", status: 403 },
  "fail-404": { kind: "error", status: 404 },
  "fail-429": { kind: "error", status: 429, headers: { "retry-after": "7" } },
  "fail-500": { kind: "error", status: 500 },
  "fail-503": { kind: "error", status: 503, headers: { "retry-after": "2" } },
  "fail-html": {
    kind: "error",
    status: 502,
    contentType: "text/html",
    body: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n",
  },
  "drop-mid-stream": { kind: "drop-mid-stream" },
  "error-mid-stream": { kind: "error-mid-stream" },
  hang: { kind: "hang" },
  "hang-mid-stream": { kind: "hang", afterChunks: defaultFailureAfterChunks },
  "tool-call": { kind: "tool-calls" },
  "parallel-tool-calls": { kind: "tool-calls", allTools: true },
  "finish-length": { kind: "answer", finishReason: "length" },
  "wire-stress": { kind: "answer", wire: stressWire },
};

/** The scenario a model name picks (the part after the last `/`), if any. */
export function scenarioForModel(model: unknown): Scenario | undefined {
  if (typeof model !== "string") return undefined;
  const name = model.slice(model.lastIndexOf("/") + 1);
  return Object.hasOwn(modelScenarios, name) ? modelScenarios[name] : undefined;
}
