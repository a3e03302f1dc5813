import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";

export { HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";

/** grpc.health.v1.Health for one server, plus the switches its lifecycle flips. */
export interface HealthService {
  /** Register with `router.service(Health, health.service)`. */
  readonly service: ServiceImpl<typeof Health>;
  /**
   * Sets the status of a fully-qualified service name ("" is the whole server) and tells every
   * watcher. Ignored after `shutdown()`, so a late start-up step cannot mark a draining server healthy.
   */
  setStatus(service: string, status: ServingStatus): void;
  /** Marks every known service NOT_SERVING, so probes fail while the server drains. */
  shutdown(): void;
}

/** What one Watch call has not sent yet; only the newest status matters to a prober. */
interface Watcher {
  pending: ServingStatus | undefined;
  wake: (() => void) | undefined;
}

/**
 * Creates the health service of the gRPC health checking protocol. The server as a whole ("")
 * starts SERVING; `servingServices` names services that start SERVING too (any other name is
 * unknown until `setStatus` names it).
 */
export function createHealthService(servingServices: Iterable<string> = []): HealthService {
  const statuses = new Map<string, ServingStatus>([["", ServingStatus.SERVING]]);
  for (const name of servingServices) statuses.set(name, ServingStatus.SERVING);
  const watchers = new Map<string, Set<Watcher>>();
  let shuttingDown = false;

  function publish(service: string, status: ServingStatus): void {
    statuses.set(service, status);
    for (const watcher of watchers.get(service) ?? []) {
      watcher.pending = status;
      watcher.wake?.();
    }
  }

  function addWatcher(service: string, watcher: Watcher): () => void {
    let set = watchers.get(service);
    if (set === undefined) {
      set = new Set();
      watchers.set(service, set);
    }
    set.add(watcher);
    return () => {
      set.delete(watcher);
      if (set.size === 0) watchers.delete(service);
    };
  }

  const service: ServiceImpl<typeof Health> = {
    check(request) {
      const status = statuses.get(request.service);
      if (status === undefined) {
        throw new ConnectError(`unknown service ${JSON.stringify(request.service)}`, Code.NotFound);
      }
      return { status };
    },
    async *watch(request, context) {
      // The spec keeps a Watch on an unknown service open: it may become known later.
      const watcher: Watcher = {
        pending: statuses.get(request.service) ?? ServingStatus.SERVICE_UNKNOWN,
        wake: undefined,
      };
      const removeWatcher = addWatcher(request.service, watcher);
      try {
        let lastSent: ServingStatus | undefined;
        while (!context.signal.aborted) {
          const next = watcher.pending;
          watcher.pending = undefined;
          if (next !== undefined && next !== lastSent) {
            lastSent = next;
            yield { status: next };
          } else if (next === undefined) {
            await nextWake(watcher, context.signal);
          }
        }
      } finally {
        removeWatcher();
      }
    },
  };

  return {
    service,
    setStatus(name, status) {
      if (!shuttingDown) publish(name, status);
    },
    shutdown() {
      shuttingDown = true;
      for (const name of statuses.keys()) publish(name, ServingStatus.NOT_SERVING);
    },
  };
}

/** Resolves on the next status change or when the call ends, whichever comes first. */
function nextWake(watcher: Watcher, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      watcher.wake = undefined;
      signal.removeEventListener("abort", done);
      resolve();
    };
    watcher.wake = done;
    signal.addEventListener("abort", done, { once: true });
  });
}
