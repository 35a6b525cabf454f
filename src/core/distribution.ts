// The part of a registry's OCI Distribution API that an adapter reaching it for one job needs (IONOS
// deletes manifests there). The composition in src/adapters/index.ts hands the OCI adapter's client in,
// so no provider imports another.

export interface DistributionClientOptions {
  /** Registry id, named in every error. */
  registryId: string;
  /** Provider name in errors and ErrorInfo. */
  provider: string;
  /** Base URL (no path, no user info). */
  endpoint: string;
  /** Required for plain http; on https it turns TLS certificate verification off. */
  insecure?: boolean;
  username?: string;
  password?: string;
  logger?: { warn(msg: string, ctx?: object): void; debug?(msg: string, ctx?: object): void };
}

export interface DistributionClient {
  deleteManifest(repository: string, digest: string, signal: AbortSignal): Promise<"deleted" | "absent">;
  close(): Promise<void>;
}

export type DistributionClientFactory = (options: DistributionClientOptions) => DistributionClient;
