// How an RPC starts an operation: the caller's idempotency key, the engine's dedupe key, and the answer
// when the key was first used for a different request. Every mutating RPC submits through here.
import { Code, invalidField, RegplaneError } from "../core/errors.js";
import type { OperationEngine } from "../core/operations.js";
import type { NewOperation } from "../core/operation-types.js";
import type { Operation } from "../gen/regplane/v1/operation_pb.js";
import type { CallContext } from "./binding.js";
import { operationToProto } from "./convert.js";

/** The idempotency-key request header, checked for length so a key cannot bloat the store. */
export function idempotencyOf(ctx: CallContext): { caller: string; key: string } | undefined {
  const key = ctx.requestHeader("idempotency-key");
  if (key === undefined || key === "") return undefined;
  if (key.length > 256) throw invalidField("idempotency-key", "the idempotency-key header must be at most 256 characters");
  return { caller: ctx.principal, key };
}

/** Submits as the caller; an operation of another kind or resource under the same idempotency key is ALREADY_EXISTS. */
export async function submitOperation(
  engine: OperationEngine,
  ctx: CallContext,
  input: Omit<NewOperation, "createdBy" | "id">,
  dedupeKey?: string,
): Promise<Operation> {
  const { operation } = await engine.submit({ ...input, createdBy: ctx.principal }, { idempotency: idempotencyOf(ctx), dedupeKey });
  if (operation.kind !== input.kind || operation.resourceId !== input.resourceId) {
    throw new RegplaneError(Code.ALREADY_EXISTS, "the idempotency-key was already used for a different request", {
      errorInfo: { reason: "IDEMPOTENCY_KEY_REUSED", metadata: { operation_id: operation.id } },
    });
  }
  return operationToProto(operation);
}
