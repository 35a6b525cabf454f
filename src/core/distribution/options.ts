// What a Distribution client is built from and answers with: its options and their checks, the token
// scopes of reads and deletes, the records of manifests and catalog pages, and the part IONOS needs.
import type { HttpLogger, HttpTuning } from "../http/index.js";
import type { BreakerTuning } from "../resilience.js";
import { endpointProblem } from "../url-policy.js";

export interface DistributionClientOptions extends HttpTuning, BreakerTuning {
  /** Registry id, named in every error. */
  registryId: string;
  /** Provider name in errors and ErrorInfo; "oci" unless an adapter passes its own. */
  provider?: string;
  /** Base URL, e.g. http://127.0.0.1:5000 or https://registry.example.com (no path, no user info). */
  endpoint: string;
  username?: string;
  password?: string;
  /** Required for plain http; on https it turns TLS certificate verification off. */
  insecure?: boolean;
  /** Token realm hosts (hostname or host:port) other than the registry's that may receive the credentials. */
  allowedRealmHosts?: string[];
  /** Requests in flight to this registry at once (token requests excluded). Default 8. */
  maxConcurrency?: number;
  logger?: HttpLogger;
  /** Bytes of manifests and config summaries kept across walks. Default 64 MiB. */
  cacheBytes?: number;
}

/** The first thing wrong with an endpoint and its credentials, by the option it concerns; undefined if none. */
export function connectionProblem(options: Pick<DistributionClientOptions, "endpoint" | "insecure" | "username" | "password">): { field: string; problem: string } | undefined {
  const problem = endpointProblem(options.endpoint, options.insecure ?? false);
  if (problem !== undefined) return { field: "endpoint", problem };
  if (options.username !== undefined && options.password === undefined) return { field: "password", problem: "required with username (they go together)" };
  if (options.username === undefined && options.password !== undefined) return { field: "username", problem: "required with password (they go together)" };
  return undefined;
}

export type RequestKind = "ping" | "catalog" | "tags" | "manifest_head" | "manifest_get" | "manifest_delete" | "tag_delete" | "blob_get" | "token";

export interface DistributionStats {
  /** HTTP requests sent (every attempt, auth round trip and redirect hop). */
  requests: number;
  byKind: Record<string, number>;
}

export interface ManifestHead {
  /** From Docker-Content-Digest; undefined when the registry does not send it. */
  digest?: string;
  mediaType: string;
  size?: number;
}

export interface ManifestBytes {
  digest: string;
  mediaType: string;
  bytes: Uint8Array;
}

export interface CatalogPage {
  repositories: string[];
  /** The next page as the registry linked it; undefined on the last page. */
  next?: URL;
}

/** What an adapter that reaches a registry's OCI API for deletes only (IONOS) needs of a client. */
export interface ManifestDeleter {
  deleteManifest(repository: string, digest: string, signal: AbortSignal): Promise<"deleted" | "absent">;
  close(): Promise<void>;
}

export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

export function deleteScope(repository: string): string {
  return `repository:${repository}:pull,delete`;
}
