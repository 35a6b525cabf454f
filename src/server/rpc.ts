// The one call pipeline both transports run: authenticate, check the role, rate-limit, apply the deadline,
// validate against the proto's buf.validate rules, call the service, log one line (and an audit line for
// every mutating call) and record metrics. Services are written once against CallContext.
import type { DescMessage, DescMethod, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { create, isMessage } from "@bufbuild/protobuf";
import { pathToString } from "@bufbuild/protobuf/reflect";
import { createValidator } from "@bufbuild/protovalidate";
import type { Logger } from "pino";
import type { Catalog } from "../core/catalog.js";
import type { LimitsConfig } from "../core/config.js";
import { Code, RegplaneError } from "../core/errors.js";
import { OperationSchema } from "../gen/regplane/v1/operation_pb.js";
import { isMutating, roleAllows, type Authenticate, type Caller } from "./auth.js";
import { DeadlineTimers, effectiveDeadline, type RateLimiter } from "./limits.js";
import type { Metrics } from "./metrics.js";
import type { CallContext, ServiceBinding } from "../services/binding.js";
import { toRegplaneError } from "../services/status.js";

/** A call as a transport sees it, before the pipeline knows who is calling. */
export interface IncomingCall {
  /**
   * The call's signal and a way to abort it, when the transport already keeps one per call (connect-node
   * does): aborted when the client goes away, and by the pipeline when the deadline passes.
   */
  controller?: { readonly signal: AbortSignal; abort(reason?: unknown): void };
  /** Without a controller: calls the listener when the client goes away (at once if it already has); returns what removes it. */
  onClientGone?(listener: (reason?: unknown) => void): () => void;
  /** The client's deadline, if it sent one. */
  deadline?: number;
  requestHeader(name: string): string | undefined;
  protocol: string;
  /** Subject of a client certificate the TLS layer verified against the client CA. */
  peerCertSubject?: string;
  /** The client's IP address, which failed authentication is counted against. */
  peerAddress?: string;
  /** The caller, when the transport had the pipeline admit it before reading the request (see admit). */
  admitted?: Caller;
}

/**
 * A request message not decoded yet: the pipeline decodes it only once the caller is authenticated, so
 * an unknown caller's body costs no parsing. `decode` throws when the bytes are not a valid message.
 */
export class EncodedRequest {
  constructor(readonly decode: () => unknown) {}
}

/** What the pipeline enforces before a service runs. */
export interface AccessControl {
  authenticate: Authenticate;
  catalog: Catalog;
  limiter: RateLimiter;
  limits: Pick<LimitsConfig, "defaultDeadline" | "maxDeadline">;
  /** Receives one line per mutating call. */
  audit: Logger;
}

interface MethodMetrics {
  latency: ReturnType<Metrics["rpcSeconds"]["labels"]>;
  counters: Map<number, ReturnType<Metrics["rpcTotal"]["labels"]>>;
}

interface MethodTarget {
  method: DescMethod;
  /** "<service>/<method>", as logs and metrics name it. */
  path: string;
  byProtocol: Map<string, MethodMetrics>;
}

export class RpcPipeline {
  private readonly validator = createValidator();

  constructor(
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    private readonly access: AccessControl,
  ) {}

  /**
   * Runs one call. Past its deadline the call answers DEADLINE_EXCEEDED at once; the service sees its
   * signal aborted and winds down. Exactly one log line, one metric sample (and audit line) per call.
   */
  invoke(binding: ServiceBinding, methodName: string, req: unknown, call: IncomingCall): Promise<unknown> {
    const target = this.methodOf(binding, methodName);
    if (!target) return Promise.reject(new RegplaneError(Code.UNIMPLEMENTED, `unknown method ${methodName}`));
    const started = performance.now();
    const deadline = effectiveDeadline(call.deadline, Date.now(), this.access.limits);
    const abort = call.controller ?? new AbortController();
    const caller: { name?: string; request?: unknown } = { request: req instanceof EncodedRequest ? undefined : req };
    return new Promise((resolve, reject) => {
      let ended = false;
      const end = (failure: RegplaneError | undefined, res?: unknown) => {
        if (ended) return;
        ended = true;
        stopWatching();
        stopListening();
        this.record(target, call.protocol, caller.request, res, failure?.code ?? Code.OK, caller.name, started);
        if (failure === undefined) resolve(res);
        else reject(failure);
      };
      const stopListening = call.controller === undefined && call.onClientGone ? call.onClientGone((reason) => abort.abort(reason)) : noop;
      const stopWatching = this.deadlines.watch(deadline, () => {
        const e = new RegplaneError(Code.DEADLINE_EXCEEDED, "the call's deadline passed");
        abort.abort(e);
        end(e);
      });
      this.run(binding, target, req, call, abort.signal, deadline, caller).then(
        (res) => end(undefined, res),
        (err: unknown) => {
          const e = toRegplaneError(err);
          if (e.code === Code.INTERNAL || e.code === Code.UNKNOWN) this.logger.error({ method: target.path, err: e.cause ?? e }, "call failed");
          end(e);
        },
      );
    });
  }

  private readonly deadlines = new DeadlineTimers();

  /**
   * Authenticates a call before its request is read, for a transport that decodes the body itself
   * (connect): a refused caller never gets its body parsed. A refusal (or the deadline passing first)
   * is the call's one log line and metric sample; an admitted caller goes on to invoke as `admitted`.
   */
  admit(binding: ServiceBinding, methodName: string, call: IncomingCall): Caller | Promise<Caller> {
    const target = this.methodOf(binding, methodName);
    if (!target) throw new RegplaneError(Code.UNIMPLEMENTED, `unknown method ${methodName}`);
    const started = performance.now();
    const refused = (err: unknown): RegplaneError => {
      const e = toRegplaneError(err);
      this.record(target, call.protocol, undefined, undefined, e.code, undefined, started);
      return e;
    };
    let who: Caller | Promise<Caller>;
    try {
      who = this.access.authenticate(call.requestHeader, { peerCertSubject: call.peerCertSubject, peerAddress: call.peerAddress });
    } catch (err) {
      throw refused(err);
    }
    // A caller known at once (no key to verify) needs no deadline watch and no promise.
    if (!(who instanceof Promise)) return who;
    const pending = who;
    const deadline = effectiveDeadline(call.deadline, Date.now(), this.access.limits);
    return new Promise<Caller>((resolve, reject) => {
      let ended = false;
      const refuse = (err: unknown) => {
        if (ended) return;
        ended = true;
        stopWatching();
        reject(refused(err));
      };
      const stopWatching = this.deadlines.watch(deadline, () => refuse(new RegplaneError(Code.DEADLINE_EXCEEDED, "the call's deadline passed")));
      pending.then((c) => {
        if (ended) return;
        ended = true;
        stopWatching();
        resolve(c);
      }, refuse);
    });
  }

  /** Authenticates, checks and calls the service; stays synchronous up to the service when the caller is known at once. */
  private run(
    binding: ServiceBinding,
    target: MethodTarget,
    req: unknown,
    call: IncomingCall,
    signal: AbortSignal,
    deadline: number,
    caller: { name?: string; request?: unknown },
  ): Promise<unknown> {
    try {
      const who = call.admitted ?? this.access.authenticate(call.requestHeader, { peerCertSubject: call.peerCertSubject, peerAddress: call.peerAddress });
      if (who instanceof Promise) return who.then((c) => this.serve(binding, target, req, call, signal, deadline, caller, c));
      return this.serve(binding, target, req, call, signal, deadline, caller, who);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private serve(
    binding: ServiceBinding,
    { method, path }: MethodTarget,
    req: unknown,
    call: IncomingCall,
    signal: AbortSignal,
    deadline: number,
    caller: { name?: string; request?: unknown },
    who: Caller,
  ): Promise<unknown> {
    caller.name = who.name;
    if (req instanceof EncodedRequest) req = caller.request = decodeRequest(req);
    if (!roleAllows(who.role, method.name)) {
      throw new RegplaneError(Code.PERMISSION_DENIED, `role ${who.role} may not call ${method.name}`, {
        errorInfo: { reason: "ROLE_LACKS_METHOD", metadata: { role: who.role, method: path } },
      });
    }
    this.access.limiter.take(who.name);
    this.validate(method.input, req);
    const ctx: CallContext = {
      principal: who.name,
      catalog: this.access.catalog.viewOf(who.folders),
      signal,
      deadline,
      requestHeader: call.requestHeader,
      protocol: call.protocol,
    };
    return binding.impl[method.localName](req, ctx).then((res) =>
      isMessage(res, method.output) ? res : create(method.output, res as MessageInitShape<DescMessage>),
    );
  }

  /** The call's metric samples, its log line and, for a mutating call, its audit line. */
  private record(target: MethodTarget, protocol: string, req: unknown, res: unknown, code: number, principal: string | undefined, started: number): void {
    const seconds = (performance.now() - started) / 1000;
    const { path, method } = target;
    const metrics = this.metricsOf(target, protocol);
    let counter = metrics.counters.get(code);
    if (!counter) {
      counter = this.metrics.rpcTotal.labels(path, protocol, codeName(code));
      metrics.counters.set(code, counter);
    }
    counter.inc();
    metrics.latency.observe(seconds);
    if (this.logger.isLevelEnabled("info")) {
      this.logger.info({ method: path, protocol, code: codeName(code), durationMs: Math.round(seconds * 1e6) / 1e3, principal }, "rpc");
    }
    if (isMutating(method.name)) {
      const operationId = isMessage(res, OperationSchema) ? res.id : fieldOf(req, "operationId");
      this.access.audit.info({ principal, method: path, resource: resourceOf(req), result: codeName(code), operationId }, "audit");
    }
  }

  private readonly methods = new WeakMap<ServiceBinding, Map<string, MethodTarget>>();

  /** The method a call names and its "<service>/<method>" path, looked up once per binding. */
  private methodOf(binding: ServiceBinding, name: string): MethodTarget | undefined {
    let byName = this.methods.get(binding);
    if (!byName) {
      byName = new Map();
      for (const m of binding.service.methods) {
        const entry: MethodTarget = { method: m, path: `${binding.service.typeName}/${m.name}`, byProtocol: new Map() };
        byName.set(m.localName, entry);
        byName.set(m.name, entry);
      }
      this.methods.set(binding, byName);
    }
    return byName.get(name);
  }

  // Metric children are looked up once per method, protocol (and code): prom-client hashes labels on every labels() call.
  private metricsOf(target: MethodTarget, protocol: string): MethodMetrics {
    let m = target.byProtocol.get(protocol);
    if (!m) {
      m = { latency: this.metrics.rpcSeconds.labels(target.path, protocol), counters: new Map() };
      target.byProtocol.set(protocol, m);
    }
    return m;
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

const noop = () => {};

function decodeRequest(req: EncodedRequest): unknown {
  try {
    return req.decode();
  } catch (err) {
    throw new RegplaneError(Code.INVALID_ARGUMENT, `request message could not be decoded: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function fieldOf(req: unknown, name: string): string | undefined {
  const v = (req as Record<string, unknown> | null)?.[name];
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** The resource a mutating request names, for the audit line. */
function resourceOf(req: unknown): string | undefined {
  const id = fieldOf(req, "imageId") ?? fieldOf(req, "repositoryId") ?? fieldOf(req, "namespaceId") ?? fieldOf(req, "operationId");
  if (id !== undefined) return id;
  const parent = fieldOf(req, "registryId") ?? fieldOf(req, "folderId");
  const name = fieldOf(req, "name");
  return parent !== undefined && name !== undefined ? `${parent}/${name}` : (parent ?? name);
}

const codeNames = Object.fromEntries(Object.entries(Code).map(([k, v]) => [v, k])) as Record<number, string>;
export function codeName(code: number): string {
  return codeNames[code] ?? String(code);
}
