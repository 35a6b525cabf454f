// What a service is written against: the call's context the pipeline hands it, and the binding of one
// protobuf service to its implementation. Both transports (src/server) run these through one pipeline.
import type { DescMessage, DescMethodUnary, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { RegistryView } from "../core/catalog.js";

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
