// How an RPC starts an operation (the caller's idempotency key, the engine's dedupe key, and the answer
// when the key was first used for a different request), and how a create handler finishes a re-run.
import { Code, invalidField, RegplaneError } from "../core/errors.js";
import type { OperationEngine } from "../core/operations.js";
import type { NewOperation, OperationContext } from "../core/operation-types.js";
import type { Operation } from "../gen/regplane/v1/operation_pb.js";
import type { CallContext } from "./binding.js";
import { operationToProto } from "./convert.js";
import { toRegplaneError } from "./status.js";

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

/** `make()`, except that a re-run after a crash which finds the thing its first run made (ALREADY_EXISTS) returns it: that is success. */
export async function createdOrFound<T>(op: OperationContext, make: () => Promise<T>, find: () => Promise<T | undefined>): Promise<T> {
  try {
    return await make();
  } catch (err) {
    if (toRegplaneError(err).code === Code.ALREADY_EXISTS && op.operation.attempts > 1) {
      const found = await find();
      if (found !== undefined) return found;
    }
    throw err;
  }
}
