import type { BackendStats } from "./backend-stats.js";

/** One place a model's deployment may send a request, as a strategy weighs it. */
export interface StrategyChoice {
  /** The backend's key in {@link BackendStats} (breakerKey of its target). */
  readonly key: string;
  /** Share of traffic under "weighted"; 0 counts as 1, as the contract says. */
  readonly weight: number;
  /** Requests waiting in an agent's queue, from its latest heartbeat; 0 for providers. */
  readonly queued: number;
  /** This router's requests in flight to an agent as its AgentDirectory counts them; absent for providers. */
  readonly agentInFlight?: number;
}

/** What the strategies read besides the choices; `random` is injected so tests can seed it. */
export interface StrategyInputs {
  readonly stats?: Pick<BackendStats, "inFlight" | "latency">;
  /** Uniform in [0, 1); default Math.random. */
  readonly random?: () => number;
}

/**
 * The choices in the order to try them under `strategy` ("" is "ordered"). Every choice stays in the
 * list, so later ones are tried when earlier ones fail before the first byte; only the order changes.
 * An unknown strategy (a hand-edited registry) keeps the listed order.
 */
export function orderByStrategy<T extends StrategyChoice>(strategy: string, choices: readonly T[], inputs: StrategyInputs = {}): T[] {
  switch (strategy) {
    case "weighted":
      return weightedOrder(choices, inputs.random ?? Math.random);
    case "least-busy":
      return leastBusyOrder(choices, inputs.stats);
    case "lowest-latency":
      return lowestLatencyOrder(choices, inputs.stats);
    default:
      return [...choices];
  }
}

/**
 * Weighted random without replacement: the first pick falls on each choice in proportion to its
 * weight, and so does every next pick among those left.
 */
export function weightedOrder<T extends StrategyChoice>(choices: readonly T[], random: () => number): T[] {
  const left = [...choices];
  const ordered: T[] = [];
  while (left.length > 0) {
    const total = left.reduce((sum, choice) => sum + effectiveWeight(choice), 0);
    let point = random() * total;
    let index = 0;
    while (index < left.length - 1 && point >= effectiveWeight(left[index]!)) {
      point -= effectiveWeight(left[index]!);
      index++;
    }
    ordered.push(...left.splice(index, 1));
  }
  return ordered;
}

/**
 * Fewest requests in flight first (this router's attempts, plus what waits at an agent); ties keep
 * the listed order, so an idle model sends to its first deployment.
 */
export function leastBusyOrder<T extends StrategyChoice>(choices: readonly T[], stats: StrategyInputs["stats"]): T[] {
  // BackendStats and the agent directory count the same attempts of this router: the larger, not the sum.
  const busy = (choice: T) => Math.max(stats?.inFlight(choice.key) ?? 0, choice.agentInFlight ?? 0) + choice.queued;
  return stableSortBy(choices, busy);
}

/**
 * Lowest moving average of time to the first token first. Choices not measured yet come before
 * every measured one (in listed order), so each gets its first sample and a slow start is not forever;
 * so do those whose averages went stale, so a backend slow once is measured again.
 */
export function lowestLatencyOrder<T extends StrategyChoice>(choices: readonly T[], stats: StrategyInputs["stats"]): T[] {
  const latency = (choice: T) => {
    const measured = stats?.latency(choice.key);
    return measured === undefined || measured.stale === true ? Number.NEGATIVE_INFINITY : measured.ttftMs;
  };
  return stableSortBy(choices, latency);
}

function effectiveWeight(choice: StrategyChoice): number {
  return choice.weight > 0 ? choice.weight : 1;
}

function stableSortBy<T>(items: readonly T[], score: (item: T) => number): T[] {
  return items
    .map((item, index) => ({ item, index, score: score(item) }))
    .sort((a, b) => a.score - b.score || a.index - b.index)
    .map(({ item }) => item);
}
