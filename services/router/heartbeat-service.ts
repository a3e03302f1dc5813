import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { Kysely } from "kysely";
import { BeatAction, BeatResponseSchema, type HeartbeatService } from "../../gen/iir/heartbeat/v1/heartbeat_pb.js";
import type { AgentDirectory } from "./agents/agent-directory.js";
import { recordBeat } from "./registry/agents.repository.js";
import type { Database } from "./registry/schema.js";
import type { CallCheck } from "../common/mesh-tokens.js";

/** What the HeartbeatService is built from. */
export interface HeartbeatServiceDeps {
  readonly db: Kysely<Database>;
  /** The interval the router expects between beats, repeated in every answer. */
  readonly heartbeatIntervalSeconds: number;
  /** Clock in milliseconds; tests inject their own. */
  readonly now?: () => number;
  /** The router's live view of agents, refreshed by every beat. */
  readonly agents?: AgentDirectory;
  /** Throws when an agent's call may not go ahead (agent token, loopback). */
  readonly checkAgentToken: CallCheck;
}

/**
 * The HeartbeatService: each beat refreshes an agent's last-seen time and load. A beat from an
 * agent the registry does not know (the router lost its database, or the agent was deregistered)
 * is answered with BEAT_ACTION_REGISTER instead of an error, so the agent recovers by itself.
 */
export function createHeartbeatService(deps: HeartbeatServiceDeps): ServiceImpl<typeof HeartbeatService> {
  const now = deps.now ?? Date.now;
  return {
    async beat(request, context) {
      deps.checkAgentToken(context);
      if (request.agentId.trim() === "") throw new ConnectError("agent_id must not be empty", Code.InvalidArgument);
      const at = now();
      // An agent missing from the live view (removed after it went silent) registers again, so the
      // router relearns its address and models from the agent itself.
      const live = deps.agents === undefined || deps.agents.beat(request.agentId, request.load, at);
      const known = live && (await recordBeat(deps.db, request.agentId, request.load, at));
      return create(BeatResponseSchema, {
        action: known ? BeatAction.OK : BeatAction.REGISTER,
        intervalSeconds: deps.heartbeatIntervalSeconds,
      });
    },
  };
}
