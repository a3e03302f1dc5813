import { create, fromJsonString, toJsonString, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Kysely, Selectable } from "kysely";
import { AgentLoadSchema, type AgentLoad } from "../../../gen/iir/heartbeat/v1/heartbeat_pb.js";
import { AgentSchema, HardwareSchema, ModelFileSchema, type Agent, type Hardware, type ModelFile } from "../../../gen/iir/registry/v1/registry_pb.js";
import { parseStringList } from "./models.repository.js";
import type { AgentsTable, Database } from "./schema.js";

/** What an agent says about itself when it registers. */
export interface AgentRegistration {
  readonly id: string;
  readonly address: string;
  readonly models: readonly string[];
  readonly hardware?: Hardware | undefined;
  /** The GGUF files of its models directory (empty without one). */
  readonly modelFiles?: readonly ModelFile[];
}

/**
 * Records an agent, replacing what an earlier registration under the same id said. Registration
 * counts as a sign of life, and the load of a previous incarnation is forgotten.
 */
export async function registerAgent(db: Kysely<Database>, registration: AgentRegistration, now: number): Promise<Agent> {
  const row = {
    id: registration.id,
    address: registration.address,
    models: JSON.stringify(registration.models),
    hardware: registration.hardware === undefined ? null : toJsonString(HardwareSchema, registration.hardware),
    registered_at: now,
    last_seen_at: now,
    load: null,
    model_files: modelFilesJson(registration.modelFiles ?? []),
    model_files_updated_at: now,
  };
  const { id: _id, ...changes } = row;
  await db
    .insertInto("agents")
    .values(row)
    .onConflict((conflict) => conflict.column("id").doUpdateSet(changes))
    .execute();
  const stored = await db.selectFrom("agents").selectAll().where("id", "=", registration.id).executeTakeFirstOrThrow();
  return agentFromRow(stored);
}

/**
 * Records what an agent answered to a rescan: its hardware and model files. Returns false when the
 * agent is unknown (it left in between).
 */
export async function recordModelFiles(db: Kysely<Database>, id: string, hardware: Hardware | undefined, modelFiles: readonly ModelFile[], now: number): Promise<boolean> {
  const result = await db
    .updateTable("agents")
    .set({
      model_files: modelFilesJson(modelFiles),
      model_files_updated_at: now,
      ...(hardware === undefined ? {} : { hardware: toJsonString(HardwareSchema, hardware) }),
    })
    .where("id", "=", id)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Forgets an agent; returns whether it was known. */
export async function deregisterAgent(db: Kysely<Database>, id: string): Promise<boolean> {
  const result = await db.deleteFrom("agents").where("id", "=", id).executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/** Every registered agent ordered by id, with `stale` left false: staleness depends on the caller's clock. */
export async function listAgents(db: Kysely<Database>): Promise<Agent[]> {
  const rows = await db.selectFrom("agents").selectAll().orderBy("id").execute();
  return rows.map(agentFromRow);
}

/**
 * Records a heartbeat: the agent was seen at `now` with `load`. Returns false when the agent is
 * unknown (never registered, deregistered, or lost with the database), so it can be told to register.
 */
export async function recordBeat(
  db: Kysely<Database>,
  id: string,
  load: AgentLoad | undefined,
  now: number,
): Promise<boolean> {
  const result = await db
    .updateTable("agents")
    .set({ last_seen_at: now, load: toJsonString(AgentLoadSchema, load ?? create(AgentLoadSchema)) })
    .where("id", "=", id)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Whether an agent has been silent for longer than `staleAfterMs` at time `now`. */
export function isAgentStale(agent: Pick<Agent, "lastSeenAt">, now: number, staleAfterMs: number): boolean {
  return now - Number(agent.lastSeenAt) > staleAfterMs;
}

function agentFromRow(row: Selectable<AgentsTable>): Agent {
  return create(AgentSchema, {
    id: row.id,
    address: row.address,
    models: parseStringList(row.models, `agents.models of "${row.id}"`),
    hardware: row.hardware === null ? undefined : parseProtoJson(HardwareSchema, row.hardware, `agents.hardware of "${row.id}"`),
    registeredAt: BigInt(row.registered_at),
    lastSeenAt: BigInt(row.last_seen_at),
    load: row.load === null ? undefined : parseProtoJson(AgentLoadSchema, row.load, `agents.load of "${row.id}"`),
    stale: false,
    modelFiles: row.model_files === null ? [] : parseModelFiles(row.model_files, `agents.model_files of "${row.id}"`),
    modelFilesUpdatedAt: BigInt(Number(row.model_files_updated_at ?? 0)),
  });
}

function modelFilesJson(files: readonly ModelFile[]): string {
  return `[${files.map((file) => toJsonString(ModelFileSchema, file)).join(",")}]`;
}

function parseModelFiles(text: string, what: string): ModelFile[] {
  let items: unknown;
  try {
    items = JSON.parse(text);
  } catch {
    items = undefined;
  }
  if (!Array.isArray(items)) throw new ConnectError(`${what} is not a JSON array`, Code.Internal);
  return items.map((item) => parseProtoJson(ModelFileSchema, JSON.stringify(item), what));
}

function parseProtoJson<Schema extends DescMessage>(schema: Schema, text: string, what: string): MessageShape<Schema> {
  try {
    return fromJsonString(schema, text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConnectError(`${what} is not valid: ${reason}`, Code.Internal);
  }
}
