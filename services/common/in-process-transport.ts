import { create, type DescMessage, type DescMethod, type MessageShape } from "@bufbuild/protobuf";
import { nextBatchOf, type BatchingIterator } from "./async-iterables.js";
import { createHeaders } from "./plain-headers.js";
import { inProcessPeer, peerKey } from "./peer.js";
import {
  Code,
  ConnectError,
  createContextValues,
  createHandlerContext,
  createMethodImplSpec,
  createServiceImplSpec,
  type ConnectRouter,
  type HandlerContext,
  type Interceptor,
  type MethodImplSpec,
  type StreamRequest,
  type StreamResponse,
  type Transport,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";

/**
 * A Transport that calls service implementations in this process directly: the contract's
 * messages, codes, headers, trailers and cancellation, without encoding messages or simulating
 * HTTP. `iir all` uses it between facade and router, where Connect's router transport spent most
 * of a cache hit's time serializing. Errors behave as over the wire: a ConnectError reaches the
 * caller as it is, anything else as Internal without its message. The server's `interceptors`
 * run around every call as they do over the wire, and the call's peer is this process.
 */
export function createInProcessTransport(routes: (router: ConnectRouter) => void, options: { interceptors?: readonly Interceptor[] } = {}): Transport {
  const methods = collectMethods(routes);
  const interceptors = options.interceptors ?? [];
  const find = (method: DescMethod): MethodImplSpec => {
    const spec = methods.get(method);
    if (spec === undefined) throw new ConnectError(`${method.parent.typeName}/${method.name} is not implemented`, Code.Unimplemented);
    return spec;
  };
  const contextFor = (method: DescMethod, signal: AbortSignal | undefined, timeoutMs: number | undefined, header: HeadersInit): CallContext =>
    handlerContextFor(method, signal, timeoutMs, header, protocolName);

  return {
    async unary(method, signal, timeoutMs, header, input) {
      const spec = find(method);
      if (spec.kind !== "unary") throw new ConnectError(`${method.name} is not unary`, Code.Unimplemented);
      const { context, end } = contextFor(method, signal, timeoutMs, header);
      try {
        const call = intercepted(interceptors, async (request: UnaryRequest) => {
          const output = await spec.impl(request.message as never, contextOf(context, request));
          return { stream: false as const, service: method.parent, method, header: context.responseHeader, trailer: context.responseTrailer, message: create(method.output, output as never) };
        });
        const response = await call(requestOf(context, method, create(method.input, input), false));
        return { ...response, message: response.message as never };
      } catch (error) {
        // Over the wire a failed call ends the handler's context; here too, so its listeners let go.
        end();
        throw asWireError(error, context);
      }
    },
    async stream(method, signal, timeoutMs, header, input) {
      const spec = find(method);
      if (spec.kind !== "server_streaming") throw new ConnectError(`${method.name} is not server-streaming`, Code.Unimplemented);
      let request: unknown;
      for await (const message of input) request = create(method.input, message);
      const { context, end } = contextFor(method, signal, timeoutMs, header);
      // The first message is awaited before answering, as a wire client waits for response headers:
      // handlers set them before their first message, and callers read them in onHeader.
      let outputs: AsyncIterator<unknown>;
      let first: IteratorResult<unknown>;
      try {
        const call = intercepted(interceptors, async (streamRequest: StreamRequest) => {
          const output = spec.impl(request as never, contextOf(context, streamRequest)) as AsyncIterable<never>;
          return { stream: true as const, service: method.parent, method, header: context.responseHeader, trailer: context.responseTrailer, message: output };
        });
        const response = await call(requestOf(context, method, singleMessage(request), true));
        outputs = response.message[Symbol.asyncIterator]();
        first = await outputs.next();
      } catch (error) {
        end();
        throw asWireError(error, context);
      }
      return {
        stream: true as const,
        service: method.parent,
        method,
        header: context.responseHeader,
        trailer: context.responseTrailer,
        message: relay(first, outputs, method.output, context, end),
      };
    },
  };
}

/**
 * The handler's messages as the caller's stream. Hand-written rather than a generator, which would
 * cost a few promises per message: each result is handed on as it is, converted only when the
 * handler yielded a plain object rather than a message.
 */
function relay<O extends DescMessage>(
  first: IteratorResult<unknown>,
  outputs: AsyncIterator<unknown>,
  schema: O,
  context: HandlerContext,
  end: () => void,
): AsyncIterable<MessageShape<O>> {
  let pending: IteratorResult<unknown> | undefined = first;
  let finished = false;
  const onResult = (result: IteratorResult<unknown>): IteratorResult<MessageShape<O>> => {
    if (result.done === true) {
      finished = true;
      return result as IteratorResult<MessageShape<O>>;
    }
    const message = create(schema, result.value as never);
    return (message === result.value ? result : { done: false, value: message }) as IteratorResult<MessageShape<O>>;
  };
  const onBatch = (result: IteratorResult<readonly unknown[]>): IteratorResult<readonly MessageShape<O>[]> => {
    if (result.done === true) {
      finished = true;
      return result as IteratorReturnResult<undefined>;
    }
    return { done: false, value: result.value.map((value) => create(schema, value as never)) };
  };
  const onError = (error: unknown): never => {
    finished = true;
    end();
    throw asWireError(error, context);
  };
  // A caller that stops reading cancels the handler, as a reset stream would. A finished call
  // leaves the signal alone: aborting builds a DOMException with a stack trace, per request.
  const stop = async (): Promise<void> => {
    if (finished) return;
    finished = true;
    end();
    await outputs.return?.();
  };
  const iterator: BatchingIterator<MessageShape<O>> = {
    next() {
      if (pending !== undefined) {
        const result = pending;
        pending = undefined;
        return Promise.resolve(onResult(result));
      }
      if (finished) return Promise.resolve({ done: true, value: undefined });
      return outputs.next().then(onResult, onError);
    },
    nextBatch() {
      if (pending !== undefined) {
        const result = pending;
        pending = undefined;
        return Promise.resolve(onBatch(result.done === true ? result : { done: false, value: [result.value] }));
      }
      if (finished) return Promise.resolve({ done: true, value: undefined });
      return nextBatchOf(outputs).then(onBatch, onError);
    },
    async return(value?: unknown) {
      await stop();
      return { done: true, value: value as MessageShape<O> };
    },
  };
  return { [Symbol.asyncIterator]: () => iterator };
}

/**
 * The error as a wire client would see it: a ConnectError as it is, anything else as Internal
 * without its message; and, as over the wire, the response headers and trailers the handler had set
 * travel in the error's metadata (unless the error already carries that name).
 */
function asWireError(error: unknown, context?: HandlerContext): ConnectError {
  const wire = error instanceof ConnectError ? error : new ConnectError("internal error", Code.Internal, undefined, undefined, error);
  if (context !== undefined) {
    for (const headers of [context.responseHeader, context.responseTrailer]) {
      headers.forEach((value, name) => {
        if (!wire.metadata.has(name)) wire.metadata.set(name, value);
      });
    }
  }
  return wire;
}

type HeadersInit = ConstructorParameters<typeof Headers>[0];

type AnyRequest = UnaryRequest | StreamRequest;
type AnyCall<I extends AnyRequest, O> = (request: I) => Promise<O>;

/** `next` wrapped by the interceptors, the first one outermost, as Connect's server applies them. */
function intercepted<I extends AnyRequest, O extends UnaryResponse | StreamResponse>(interceptors: readonly Interceptor[], next: AnyCall<I, O>): AnyCall<I, O> {
  if (interceptors.length === 0) return next;
  let call = next as unknown as Parameters<Interceptor>[0];
  for (let index = interceptors.length - 1; index >= 0; index--) call = interceptors[index]!(call);
  return call as unknown as AnyCall<I, O>;
}

/** The request an interceptor sees, sharing the handler context's headers, signal and values. */
function requestOf<S extends boolean>(context: HandlerContext, method: DescMethod, message: unknown, stream: S): S extends true ? StreamRequest : UnaryRequest {
  return {
    stream,
    service: method.parent,
    method,
    requestMethod: "POST",
    url: context.url,
    signal: context.signal,
    header: context.requestHeader,
    contextValues: context.values,
    message,
  } as never;
}

/** The handler's context as an interceptor left the request. */
function contextOf(context: HandlerContext, request: AnyRequest): HandlerContext {
  if (request.header === context.requestHeader && request.signal === context.signal && request.contextValues === context.values) return context;
  return { ...context, requestHeader: request.header, signal: request.signal, values: request.contextValues };
}

async function* singleMessage<T>(value: T): AsyncIterable<T> {
  yield value;
}

/**
 * The context a handler is called with. With a deadline Connect's own context runs the timer;
 * without one (the facade's calls) a plain context on the caller's signal saves two
 * AbortControllers and their listeners per call, and its headers are plain-headers.ts's.
 */
function handlerContextFor(
  method: DescMethod,
  signal: AbortSignal | undefined,
  timeoutMs: number | undefined,
  header: HeadersInit,
  protocolName: string,
): CallContext {
  if (timeoutMs !== undefined && timeoutMs > 0) {
    const controller = createHandlerContext({
      service: method.parent,
      method,
      protocolName,
      requestMethod: "POST",
      url: `/${method.parent.typeName}/${method.name}`,
      timeoutMs,
      requestSignal: signal,
      requestHeader: header,
      contextValues: inProcessValues(),
    });
    return { context: controller, end: () => controller.abort() };
  }
  const context: HandlerContext = {
    service: method.parent,
    method,
    protocolName,
    requestMethod: "POST",
    url: `/${method.parent.typeName}/${method.name}`,
    signal: signal ?? neverAborted,
    timeoutMs: () => undefined,
    requestHeader: createHeaders(header),
    responseHeader: createHeaders(),
    responseTrailer: createHeaders(),
    values: inProcessValues(),
  };
  return { context, end: () => undefined };
}

/** A handler's context and how to end it early. */
interface CallContext {
  readonly context: HandlerContext;
  readonly end: () => void;
}

const protocolName = "in-process";

function inProcessValues() {
  const values = createContextValues();
  values.set(peerKey, inProcessPeer);
  return values;
}
const neverAborted = new AbortController().signal;

/** Records every method a routes function registers, keyed by its descriptor. */
function collectMethods(routes: (router: ConnectRouter) => void): Map<DescMethod, MethodImplSpec> {
  const methods = new Map<DescMethod, MethodImplSpec>();
  const collector: ConnectRouter = {
    handlers: [],
    service(service, implementation) {
      for (const spec of Object.values(createServiceImplSpec(service, implementation).methods)) methods.set(spec.method, spec);
      return collector;
    },
    rpc(method, implementation) {
      methods.set(method, createMethodImplSpec(method, implementation));
      return collector;
    },
  };
  routes(collector);
  return methods;
}
