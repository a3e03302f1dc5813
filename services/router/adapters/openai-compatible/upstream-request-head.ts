import { Code, ConnectError } from "@connectrpc/connect";
import type { ChatTarget } from "../adapter.js";
import type { Http1Endpoint } from "./http1-pool.js";

// Headers the request itself sets: one passed along under these names is left out.
const ownHeaders = new Set(["host", "content-type", "content-length", "accept", "authorization", "connection", "transfer-encoding"]);
const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const invalidValue = /[\r\n\0]/;

/** The request line and headers of a POST of `length` bytes of JSON to the target. */
export function requestHead(endpoint: Endpoint, target: ChatTarget, length: number): string {
  let head = endpoint.requestLines;
  const headers = target.headers;
  if (headers !== undefined) {
    for (const name in headers) {
      if (ownHeaders.has(name.toLowerCase())) continue;
      head += `${checkedName(name, target)}: ${checkedValue(name, headers[name]!, target)}\r\n`;
    }
  }
  if (target.apiKey !== undefined) head += `Authorization: Bearer ${checkedValue("Authorization", target.apiKey, target)}\r\n`;
  else if (endpoint.basicAuth !== undefined) head += `Authorization: Basic ${endpoint.basicAuth}\r\n`;
  return `${head}Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: ${length}\r\n\r\n`;
}

function checkedName(name: string, target: ChatTarget): string {
  if (!headerName.test(name)) throw new ConnectError(`${target.provider} upstream: header name ${JSON.stringify(name)} is not valid HTTP`, Code.Internal);
  return name;
}

// The value is never quoted: it may be a secret.
function checkedValue(name: string, value: string, target: ChatTarget): string {
  if (invalidValue.test(value)) throw new ConnectError(`${target.provider} upstream: the value of header ${name} has characters HTTP does not allow`, Code.Internal);
  return value;
}

/** Where a base URL's chat completions are POSTed; parsed once per base URL. */
export interface Endpoint extends Http1Endpoint {
  /** The request line, Host and Connection headers. */
  readonly requestLines: string;
  /** Credentials in the URL (`https://user:pass@host`), sent when the target has no key. */
  readonly basicAuth: string | undefined;
}

const endpoints = new Map<string, Endpoint>();
// Base URLs come from configuration and the registry; this only bounds a registry that churns.
const maximumEndpoints = 1000;

export function endpointOf(baseUrl: string): Endpoint {
  let endpoint = endpoints.get(baseUrl);
  if (endpoint === undefined) {
    const url = new URL(`${baseUrl}/chat/completions`);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`the base URL's scheme ${url.protocol} is not http or https`);
    const secure = url.protocol === "https:";
    const path = `${url.pathname}${url.search}`;
    const user = url.username === "" ? undefined : `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    endpoint = {
      secure,
      hostname: url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname,
      port: url.port === "" ? (secure ? 443 : 80) : Number(url.port),
      path,
      host: url.host,
      requestLines: `POST ${path} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: keep-alive\r\n`,
      basicAuth: user === undefined ? undefined : Buffer.from(user).toString("base64"),
    };
    if (endpoints.size >= maximumEndpoints) endpoints.clear();
    endpoints.set(baseUrl, endpoint);
  }
  return endpoint;
}

