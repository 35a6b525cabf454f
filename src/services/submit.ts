// How a service starts an operation: once per idempotency key (the request header) and once per
// unfinished dedupe key, refusing a key that was used for a different request.
import { Code, invalidField, RegplaneError } from "../core/errors.js";
import type { NewOperation } from "../core/operation-types.js";
import type { OperationEngine } from "../core/operations.js";
import type { OperationRecord } from "../core/store.js";
import type { CallContext } from "./binding.js";

/** The idempotency-key request header, checked for length so a key cannot bloat the store. */
export function idempotencyOf(ctx: CallContext): { caller: string; key: string } | undefined {
  const key = ctx.requestHeader("idempotency-key");
  if (key === undefined || key === "") return undefined;
  if (key.length > 256) throw invalidField("idempotency-key", "the idempotency-key header must be at most 256 characters");
  return { caller: ctx.principal, key };
}

/** Submits `op` for this call, or returns the operation its idempotency or dedupe key already started. */
export async function submitOnce(engine: OperationEngine, ctx: CallContext, op: Omit<NewOperation, "createdBy">, dedupeKey?: string): Promise<OperationRecord> {
  const { operation } = await engine.submit({ ...op, createdBy: ctx.principal }, { idempotency: idempotencyOf(ctx), dedupeKey });
  if (operation.kind !== op.kind || operation.resourceId !== op.resourceId) {
    throw new RegplaneError(Code.ALREADY_EXISTS, "the idempotency-key was already used for a different request", {
      errorInfo: { reason: "IDEMPOTENCY_KEY_REUSED", metadata: { operation_id: operation.id } },
    });
  }
  return operation;
}
