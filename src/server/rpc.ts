// The one call pipeline both transports run: authenticate, check the role, rate-limit, apply the deadline,
// validate against the proto's buf.validate rules, call the service, log one line (and an audit line for
// every mutating call) and record metrics. Services are written once against CallContext.
import type { DescMessage, DescMethod, DescMethodUnary, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { create, isMessage } from "@bufbuild/protobuf";
import { pathToString } from "@bufbuild/protobuf/reflect";
import { createValidator } from "@bufbuild/protovalidate";
import type { Logger } from "pino";
import type { Catalog, RegistryView } from "../core/catalog.js";
import type { LimitsConfig } from "../core/config.js";
import { Code, RegplaneError } from "../core/errors.js";
import { OperationSchema } from "../gen/regplane/v1/operation_pb.js";
import { isMutating, roleAllows, type Authenticate } from "./auth.js";
import { effectiveDeadline, type RateLimiter } from "./limits.js";
import type { Metrics } from "./metrics.js";
import { toRegplaneError } from "./status.js";

export interface CallContext {
  /** Who is calling ("anonymous" when the server runs without authentication). */
  principal: string;
  /** The registries and folders this caller may reach; everything else is NOT_FOUND. */
  catalog: RegistryView;
  /** Aborted when the client goes away or the deadline passes. */
  signal: AbortSignal;
  /** Milliseconds since the epoch when the call's deadline passes (the client's, capped, or the server's default). */
  deadline?: number;
  requestHeader(name: string): string | undefined;
  protocol: string;
}

/** A call as a transport sees it, before the pipeline knows who is calling. */
export interface IncomingCall {
  signal: AbortSignal;
  /** The client's deadline, if it sent one. */
  deadline?: number;
  requestHeader(name: string): string | undefined;
  protocol: string;
  /** Subject of a client certificate the TLS layer verified against the client CA. */
  peerCertSubject?: string;
}

/** What the pipeline enforces before a service runs. */
export interface AccessControl {
  authenticate: Authenticate;
  catalog: Catalog;
  limiter: RateLimiter;
  limits: Pick<LimitsConfig, "defaultDeadlineMs" | "maxDeadlineMs">;
  /** Receives one line per mutating call. */
  audit: Logger;
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
    private readonly access: AccessControl,
  ) {}

  async invoke(binding: ServiceBinding, methodName: string, req: unknown, call: IncomingCall): Promise<unknown> {
    const target = this.methodOf(binding, methodName);
    if (!target) throw new RegplaneError(Code.UNIMPLEMENTED, `unknown method ${methodName}`);
    const { method, path } = target;
    const started = process.hrtime.bigint();
    let code: number = Code.OK;
    let principal: string | undefined;
    let res: unknown;
    const deadline = effectiveDeadline(call.deadline, Date.now(), this.access.limits);
    const abort = new AbortController();
    const onClientGone = () => abort.abort(call.signal.reason);
    if (call.signal.aborted) onClientGone();
    else call.signal.addEventListener("abort", onClientGone, { once: true });
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const e = new RegplaneError(Code.DEADLINE_EXCEEDED, "the call's deadline passed");
        abort.abort(e);
        reject(e);
      }, Math.max(0, deadline - Date.now()));
    });
    try {
      const work = (async () => {
        const caller = await this.access.authenticate(call.requestHeader, { peerCertSubject: call.peerCertSubject });
        principal = caller.name;
        if (!roleAllows(caller.role, method.name)) {
          throw new RegplaneError(Code.PERMISSION_DENIED, `role ${caller.role} may not call ${method.name}`, {
            errorInfo: { reason: "ROLE_LACKS_METHOD", metadata: { role: caller.role, method: path } },
          });
        }
        this.access.limiter.take(caller.name);
        this.validate(method.input, req);
        const ctx: CallContext = {
          principal: caller.name,
          catalog: this.access.catalog.viewOf(caller.folders),
          signal: abort.signal,
          deadline,
          requestHeader: call.requestHeader,
          protocol: call.protocol,
        };
        return binding.impl[method.localName](req, ctx);
      })();
      // Past the deadline the call answers at once; the service sees its signal aborted and winds down.
      work.catch(() => {});
      res = await Promise.race([work, expired]);
      return isMessage(res, method.output) ? res : create(method.output, res as MessageInitShape<DescMessage>);
    } catch (err) {
      const e = toRegplaneError(err);
      code = e.code;
      if (e.code === Code.INTERNAL || e.code === Code.UNKNOWN) {
        this.logger.error({ method: path, err: e.cause ?? e }, "call failed");
      }
      throw e;
    } finally {
      clearTimeout(timer);
      call.signal.removeEventListener("abort", onClientGone);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.metrics.rpcTotal.labels(path, call.protocol, codeName(code)).inc();
      this.metricsFor(path, call.protocol).observe(seconds);
      this.logger.info(
        { method: path, protocol: call.protocol, code: codeName(code), durationMs: Math.round(seconds * 1e6) / 1e3, principal },
        "rpc",
      );
      if (isMutating(method.name)) {
        const operationId = isMessage(res, OperationSchema) ? res.id : fieldOf(req, "operationId");
        this.access.audit.info({ principal, method: path, resource: resourceOf(req), result: codeName(code), operationId }, "audit");
      }
    }
  }

  private readonly methods = new WeakMap<ServiceBinding, Map<string, { method: DescMethod; path: string }>>();
  private readonly latency = new Map<string, ReturnType<Metrics["rpcSeconds"]["labels"]>>();

  /** The method a call names and its "<service>/<method>" path, looked up once per binding. */
  private methodOf(binding: ServiceBinding, name: string): { method: DescMethod; path: string } | undefined {
    let byName = this.methods.get(binding);
    if (!byName) {
      byName = new Map();
      for (const m of binding.service.methods) {
        const entry = { method: m, path: `${binding.service.typeName}/${m.name}` };
        byName.set(m.localName, entry);
        byName.set(m.name, entry);
      }
      this.methods.set(binding, byName);
    }
    return byName.get(name);
  }

  /** The latency histogram's child for one method and protocol, so a call does not hash its labels. */
  private metricsFor(path: string, protocol: string) {
    const key = `${path} ${protocol}`;
    let child = this.latency.get(key);
    if (!child) {
      child = this.metrics.rpcSeconds.labels(path, protocol);
      this.latency.set(key, child);
    }
    return child;
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

function fieldOf(req: unknown, name: string): string | undefined {
  const v = (req as Record<string, unknown> | null)?.[name];
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** The resource a mutating request names, for the audit line. */
function resourceOf(req: unknown): string | undefined {
  const id = fieldOf(req, "imageId") ?? fieldOf(req, "namespaceId") ?? fieldOf(req, "operationId");
  if (id !== undefined) return id;
  const parent = fieldOf(req, "registryId") ?? fieldOf(req, "folderId");
  const name = fieldOf(req, "name");
  return parent !== undefined && name !== undefined ? `${parent}/${name}` : (parent ?? name);
}

const codeNames = Object.fromEntries(Object.entries(Code).map(([k, v]) => [v, k])) as Record<number, string>;
export function codeName(code: number): string {
  return codeNames[code] ?? String(code);
}
