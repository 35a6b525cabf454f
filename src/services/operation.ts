// OperationService: Get and Cancel (mirrored), List and Wait (ours).
import { create } from "@bufbuild/protobuf";
import { notFound } from "../core/errors.js";
import { ListOperationsResponseSchema, OperationService } from "../gen/regplane/v1/operation_service_pb.js";
import { bind } from "../server/rpc.js";
import { operationToProto } from "./convert.js";
import type { ServiceDeps } from "./deps.js";
import { pageSizeOf } from "./listing.js";

const DEFAULT_WAIT_MS = 30_000;

/** Keyset position of an operations listing: (createdAt ms, id) of the last operation returned. */
function encodePosition(createdAt: Date, id: string): Uint8Array {
  const idBytes = Buffer.from(id, "utf8");
  const out = Buffer.alloc(8 + idBytes.length);
  out.writeDoubleBE(createdAt.getTime(), 0);
  idBytes.copy(out, 8);
  return out;
}

function decodePosition(bytes: Uint8Array): { createdAt: Date; id: string } {
  const b = Buffer.from(bytes);
  return { createdAt: new Date(b.readDoubleBE(0)), id: b.subarray(8).toString("utf8") };
}

export function operationService(deps: ServiceDeps) {
  const { engine, tokens } = deps;

  async function find(id: string) {
    const op = await engine.get(id);
    if (!op) throw notFound("operation", id);
    return op;
  }

  return bind(OperationService, {
    async get(req) {
      return operationToProto(await find(req.operationId));
    },

    async cancel(req) {
      await find(req.operationId);
      const op = await engine.cancel(req.operationId);
      if (!op) throw notFound("operation", req.operationId);
      return operationToProto(op);
    },

    async list(req, ctx) {
      const binding = ["operations", req.resourceId, String(req.done ?? ""), ctx.principal].join("\n");
      const now = new Date();
      const before = req.pageToken === "" ? undefined : decodePosition(await tokens.decode(req.pageToken, binding, now));
      const limit = pageSizeOf(req.pageSize);
      const ops = await engine.list({ resourceId: req.resourceId || undefined, done: req.done, before, limit: limit + 1 });
      const page = ops.slice(0, limit);
      const last = page[page.length - 1];
      return create(ListOperationsResponseSchema, {
        operations: page.map(operationToProto),
        nextPageToken: ops.length > limit && last ? await tokens.encode(encodePosition(last.createdAt, last.id), binding, now) : "",
      });
    },

    async wait(req, ctx) {
      await find(req.operationId);
      const timeoutMs = req.timeout ? Number(req.timeout.seconds) * 1000 + Math.floor(req.timeout.nanos / 1e6) : DEFAULT_WAIT_MS;
      const budget = ctx.deadline !== undefined ? Math.min(timeoutMs, Math.max(0, ctx.deadline - Date.now() - 100)) : timeoutMs;
      const op = await engine.wait(req.operationId, budget);
      if (!op) throw notFound("operation", req.operationId);
      return operationToProto(op);
    },
  });
}
