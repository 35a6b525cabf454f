// The operations table's row as both stores read it, and the record it becomes. SQLite hands times and
// flags back as numbers; PostgreSQL's BIGINT arrives as text and its flag as a boolean.
import type { OperationRecord, OperationState } from "../core/store.js";
import { decodeStatus } from "./status-codec.js";

export interface OperationRowOf<Time extends number | string, Flag extends number | boolean> {
  id: string;
  kind: string;
  resource_id: string;
  registry_id: string;
  description: string;
  created_at: Time;
  created_by: string;
  modified_at: Time;
  state: OperationState;
  metadata_type_url: string;
  metadata_value: Buffer;
  params: string;
  error: string | null;
  response_type_url: string | null;
  response_value: Buffer | null;
  lease_owner: string | null;
  lease_expires_at: Time | null;
  attempts: number;
  cancel_requested: Flag;
}

/** Byte fields are copied into plain Uint8Arrays, so callers never hold a Buffer over the driver's memory. */
export function toOperationRecord(row: OperationRowOf<number | string, number | boolean>): OperationRecord {
  const op: OperationRecord = {
    id: row.id,
    kind: row.kind,
    resourceId: row.resource_id,
    registryId: row.registry_id,
    description: row.description,
    createdAt: new Date(Number(row.created_at)),
    createdBy: row.created_by,
    modifiedAt: new Date(Number(row.modified_at)),
    state: row.state,
    metadata: { typeUrl: row.metadata_type_url, value: new Uint8Array(row.metadata_value) },
    params: JSON.parse(row.params) as unknown,
    attempts: row.attempts,
    cancelRequested: row.cancel_requested === true || row.cancel_requested === 1,
  };
  if (row.error !== null) op.error = decodeStatus(row.error);
  if (row.response_type_url !== null && row.response_value !== null) {
    op.response = { typeUrl: row.response_type_url, value: new Uint8Array(row.response_value) };
  }
  if (row.lease_owner !== null) op.leaseOwner = row.lease_owner;
  if (row.lease_expires_at !== null) op.leaseExpiresAt = new Date(Number(row.lease_expires_at));
  return op;
}
