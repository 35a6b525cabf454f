// OperationService: Get and Cancel (mirrored), List and Wait (ours).
import { create } from "@bufbuild/protobuf";
import { invalidField, notFound } from "../core/errors.js";
import { decodeCursor, encodeCursor } from "../core/positions.js";
import { ListOperationsResponseSchema, OperationService } from "../gen/regplane/v1/operation_service_pb.js";
import { pageTokenBinding } from "../core/pagetoken.js";
import { bind, type CallContext } from "./binding.js";
import type { OperationRecord } from "../core/store.js";
import { operationToProto } from "./convert.js";
import type { ServiceDeps } from "./deps.js";
import { pageSizeOf } from "./listing.js";

const DEFAULT_WAIT_MS = 30_000;

export function operationService(deps: ServiceDeps) {
  const { engine, tokens } = deps;

  /** A caller sees the operations of the registries it may reach; any other id is NOT_FOUND, as if it never existed. */
  function visible(op: OperationRecord, ctx: CallContext): boolean {
    return op.registryId !== "" ? ctx.catalog.hasRegistry(op.registryId) : op.createdBy === ctx.principal;
  }

  async function find(id: string, ctx: CallContext) {
    const op = await engine.get(id);
    if (!op || !visible(op, ctx)) throw notFound("operation", id);
    return op;
  }

  return bind(OperationService, {
    async get(req, ctx) {
      return operationToProto(await find(req.operationId, ctx));
    },

    async cancel(req, ctx) {
      await find(req.operationId, ctx);
      const op = await engine.cancel(req.operationId);
      if (!op) throw notFound("operation", req.operationId);
      return operationToProto(op);
    },

    async list(req, ctx) {
      const binding = pageTokenBinding("operations", req.resourceId, String(req.done ?? ""), ctx.principal);
      const now = new Date();
      // Keyset position: (created_at ms, id) of the last operation returned; the listing is newest first.
      let before: { createdAt: Date; id: string } | undefined;
      if (req.pageToken !== "") {
        const [ms, id] = decodeCursor(await tokens.decode(req.pageToken, binding, now), 2);
        if (!/^\d+$/.test(ms)) throw invalidField("page_token", "invalid page token", "page_token.invalid");
        before = { createdAt: new Date(Number(ms)), id };
      }
      const limit = pageSizeOf(req.pageSize);
      // The store applies the same rule as visible(), so a page is full whenever more visible operations exist.
      const found = await engine.list({
        resourceId: req.resourceId || undefined,
        done: req.done,
        visibleTo: { registryIds: ctx.catalog.all().map((p) => p.id), principal: ctx.principal },
        before,
        limit: limit + 1,
      });
      const more = found.length > limit;
      const page = found.slice(0, limit);
      const last = page[page.length - 1];
      return create(ListOperationsResponseSchema, {
        operations: page.map(operationToProto),
        nextPageToken: more && last ? await tokens.encode(encodeCursor([String(last.createdAt.getTime()), last.id]), binding, now) : "",
      });
    },

    async wait(req, ctx) {
      await find(req.operationId, ctx);
      const timeoutMs = req.timeout ? Number(req.timeout.seconds) * 1000 + Math.floor(req.timeout.nanos / 1e6) : DEFAULT_WAIT_MS;
      const budget = ctx.deadline !== undefined ? Math.min(timeoutMs, Math.max(0, ctx.deadline - Date.now() - 100)) : timeoutMs;
      const op = await engine.wait(req.operationId, budget);
      if (!op) throw notFound("operation", req.operationId);
      return operationToProto(op);
    },
  });
}
