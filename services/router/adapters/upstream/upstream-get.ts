import type { ChatTarget } from "../adapter.js";
import type { UpstreamClient, UpstreamHeaders } from "./upstream-client.js";
import { endpointOf } from "./upstream-request.js";
import { redactSecrets, upstreamErrorContext } from "./upstream-secrets.js";

// A model list is small; a larger body is a broken upstream.
const maximumBodyBytes = 8 * 1024 * 1024;

/** What a GET answered: its status and its body as text. */
export interface UpstreamGetAnswer {
  readonly status: number;
  readonly headers: UpstreamHeaders;
  readonly body: string;
}

/**
 * `GET {baseUrl}{suffix}` through the shared upstream client (its pools, proxy and timeouts), for the
 * few calls that are not completions: a provider's model list. Resolves with any status; rejects on
 * a transport failure, an abort or a body past 8 MiB, with a message that names the provider only.
 */
export function upstreamGet(client: UpstreamClient, target: ChatTarget, suffix: string, auth: Record<string, string> | undefined, signal: AbortSignal): Promise<UpstreamGetAnswer> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new Error(`${target.provider}: the request was aborted`));
      return;
    }
    const endpoint = endpointOf(target.baseUrl, suffix);
    const headers: Record<string, string> = { accept: "application/json", ...(target.headers ?? {}) };
    if (auth !== undefined) Object.assign(headers, auth);
    else if (endpoint.basicAuth !== undefined) headers.authorization = `Basic ${endpoint.basicAuth}`;
    let status = 0;
    let answerHeaders: UpstreamHeaders = {};
    const chunks: Buffer[] = [];
    let size = 0;
    const onAbort = () => {
      exchange.abort();
      reject(new Error(`${target.provider}: the request was aborted`));
    };
    const exchange = client.send(
      { origin: endpoint.origin, path: endpoint.path, headers, body: "", method: "GET" },
      {
        onHead(code, received) {
          status = code;
          answerHeaders = received;
        },
        onData(bytes) {
          size += bytes.length;
          if (size > maximumBodyBytes) {
            exchange.abort();
            signal.removeEventListener("abort", onAbort);
            reject(new Error(`${target.provider}: the answer is larger than ${maximumBodyBytes} bytes`));
            return;
          }
          chunks.push(bytes);
        },
        onEnd() {
          signal.removeEventListener("abort", onAbort);
          resolve({ status, headers: answerHeaders, body: Buffer.concat(chunks, size).toString("utf8") });
        },
        onError(error) {
          signal.removeEventListener("abort", onAbort);
          reject(new Error(`${target.provider} is unreachable: ${redactSecrets(error.message, upstreamErrorContext(target).secrets)}`));
        },
      },
    );
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
