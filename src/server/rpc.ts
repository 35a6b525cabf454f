// The one call pipeline both transports run: validate against the proto's buf.validate rules, call the
// service, log one line and record metrics. Services are written once against CallContext.
import type { DescMessage, DescMethodUnary, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { create, isMessage } from "@bufbuild/protobuf";
import { pathToString } from "@bufbuild/protobuf/reflect";
import { createValidator } from "@bufbuild/protovalidate";
import type { Logger } from "pino";
import { Code, RegplaneError } from "../core/errors.js";
import type { Metrics } from "./metrics.js";
import { toRegplaneError } from "./status.js";

export interface CallContext {
  /** Who is calling ("anonymous" when the server runs without authentication). */
  principal: string;
  /** Aborted when the client goes away or the deadline passes. */
  signal: AbortSignal;
  /** Milliseconds since the epoch when the client's deadline passes, if it sent one. */
  deadline?: number;
  requestHeader(name: string): string | undefined;
  protocol: string;
}

type UnaryImplOf<M> = M extends DescMethodUnary<infer I extends DescMessage, infer O extends DescMessage>
  ? (req: MessageShape<I>, ctx: CallContext) => Promise<MessageShape<O> | MessageInitShape<O>>
  : never;

/** A service implementation: one async function per unary RPC. */
export type ServiceImpl<S extends DescService & { method: Record<string, unknown> }> = {
  [K in keyof S["method"]]: UnaryImplOf<S["method"][K]>;
};

export interface ServiceBinding {
  service: DescService;
  impl: Record<string, (req: unknown, ctx: CallContext) => Promise<unknown>>;
}

export function bind<S extends DescService & { method: Record<string, unknown> }>(service: S, impl: ServiceImpl<S>): ServiceBinding {
  return { service, impl: impl as unknown as ServiceBinding["impl"] };
}

export class RpcPipeline {
  private readonly validator = createValidator();

  constructor(
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {}

  async invoke(binding: ServiceBinding, methodName: string, req: unknown, ctx: CallContext): Promise<unknown> {
    const method = binding.service.methods.find((m) => m.localName === methodName || m.name === methodName);
    if (!method) throw new RegplaneError(Code.UNIMPLEMENTED, `unknown method ${methodName}`);
    const started = process.hrtime.bigint();
    const path = `${binding.service.typeName}/${method.name}`;
    let code: number = Code.OK;
    try {
      this.validate(method.input, req);
      const res = await binding.impl[method.localName](req, ctx);
      return isMessage(res, method.output) ? res : create(method.output, res as MessageInitShape<DescMessage>);
    } catch (err) {
      const e = toRegplaneError(err);
      code = e.code;
      if (e.code === Code.INTERNAL || e.code === Code.UNKNOWN) {
        this.logger.error({ method: path, err: e.cause ?? e }, "call failed");
      }
      throw e;
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.metrics.rpcTotal.inc({ method: path, protocol: ctx.protocol, code: codeName(code) });
      this.metrics.rpcSeconds.observe({ method: path, protocol: ctx.protocol }, seconds);
      this.logger.info(
        { method: path, protocol: ctx.protocol, code: codeName(code), durationMs: Math.round(seconds * 1e6) / 1e3, principal: ctx.principal },
        "rpc",
      );
    }
  }

  private validate(schema: DescMessage, req: unknown): void {
    const result = this.validator.validate(schema, req as MessageShape<DescMessage>);
    if (result.kind === "valid") return;
    if (result.kind === "error") throw new RegplaneError(Code.INTERNAL, "request validation failed", { cause: result.error });
    const violations = result.violations.map((v) => ({
      field: pathToString(v.field),
      description: v.message,
      reason: v.ruleId,
    }));
    throw new RegplaneError(
      Code.INVALID_ARGUMENT,
      violations.map((v) => `${v.field}: ${v.description}`).join("; "),
      { fieldViolations: violations },
    );
  }
}

const codeNames = Object.fromEntries(Object.entries(Code).map(([k, v]) => [v, k])) as Record<number, string>;
export function codeName(code: number): string {
  return codeNames[code] ?? String(code);
}
