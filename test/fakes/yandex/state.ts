// The Yandex fake's records and test controls: registries, repositories, images, operations, keys and
// tokens, how a test seeds them, and the failures a test injects.
import { createPublicKey, randomBytes, type KeyObject } from "node:crypto";

export const TYPE = "type.googleapis.com/";

export interface FakeServiceAccountKey {
  keyId: string;
  serviceAccountId: string;
  publicKey: KeyObject | string;
}

export interface YandexFakeOptions {
  serviceAccountKeys?: FakeServiceAccountKey[];
  oauthTokens?: string[];
  /** IAM tokens accepted without an exchange (as `yc iam create-token` would give). */
  staticTokens?: string[];
  /** Lifetime of exchanged IAM tokens. Default 12 h. */
  tokenLifetimeMs?: number;
  /** GET /operations/{id} polls before an operation is done. Default 1. */
  operationPolls?: number;
}

export interface FakeBlob {
  id: string;
  digest: string;
  size: number;
  urls?: string[];
}

export interface FakeImage {
  id: string;
  registryId: string;
  /** "<registry id>/<repository>". */
  name: string;
  digest: string;
  compressedSize: number;
  config?: FakeBlob;
  layers: FakeBlob[];
  tags: string[];
  createdAt: string;
}

export interface FakeRepository {
  id: string;
  registryId: string;
  /** "<registry id>/<path>". */
  name: string;
}

export interface FakeRegistry {
  id: string;
  folderId: string;
  name: string;
  status: "CREATING" | "ACTIVE" | "DELETING";
  createdAt: string;
  labels: Record<string, string>;
}

export interface FakeOperation {
  json: Record<string, unknown>;
  pollsLeft: number;
  /** Applies the change; returns the response, or throws a status to end the operation with. */
  finish: () => Record<string, unknown>;
}

export interface IamExchange {
  kind: "jwt" | "oauth" | "invalid";
  ok: boolean;
  /** Why the exchange was refused. */
  reason?: string;
}

export interface SeenRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  token: "valid" | "expired" | "unknown" | "none";
}

export interface InjectedFailure {
  method?: string;
  pathPrefix?: string;
  code: number;
  message?: string;
  retryAfter?: string;
  times: number;
}

export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export abstract class YandexState {
  url = "";
  /** The IAM token endpoint, also the `aud` a JWT must carry. */
  iamUrl = "";
  readonly registries = new Map<string, FakeRegistry>();
  readonly images = new Map<string, FakeImage>();
  /** By Yandex id. */
  readonly repositories = new Map<string, FakeRepository>();
  readonly operations = new Map<string, FakeOperation>();
  readonly requests: SeenRequest[] = [];
  readonly iamExchanges: IamExchange[] = [];
  latencyMs = 0;
  operationPolls: number;
  protected readonly keys = new Map<string, { serviceAccountId: string; publicKey: KeyObject }>();
  protected readonly oauthTokens: Set<string>;
  protected readonly tokens = new Map<string, number>();
  protected readonly tokenLifetimeMs: number;
  protected readonly failures: InjectedFailure[] = [];
  protected readonly operationFailures = new Map<string, { code: number; message: string }>();

  constructor(options: YandexFakeOptions = {}) {
    for (const k of options.serviceAccountKeys ?? []) this.addServiceAccountKey(k);
    this.oauthTokens = new Set(options.oauthTokens ?? []);
    for (const t of options.staticTokens ?? []) this.tokens.set(t, Number.POSITIVE_INFINITY);
    this.tokenLifetimeMs = options.tokenLifetimeMs ?? 12 * 60 * 60 * 1000;
    this.operationPolls = options.operationPolls ?? 1;
  }

  addServiceAccountKey(k: FakeServiceAccountKey): void {
    this.keys.set(k.keyId, { serviceAccountId: k.serviceAccountId, publicKey: typeof k.publicKey === "string" ? createPublicKey(k.publicKey) : k.publicKey });
  }

  /** Every IAM token issued so far stops working, as at their expiresAt. */
  expireAllTokens(): void {
    for (const [t, exp] of this.tokens) if (exp !== Number.POSITIVE_INFINITY) this.tokens.set(t, Date.now() - 1);
  }

  failNext(failure: Omit<InjectedFailure, "times"> & { times?: number }): void {
    this.failures.push({ times: 1, ...failure });
  }

  /** The next operation on this image, registry or repository id (or repository name, for a create) ends done with this error. */
  failOperationOn(resourceId: string, status: { code: number; message: string }): void {
    this.operationFailures.set(resourceId, status);
  }

  addRegistry(r: { folderId: string; name: string; labels?: Record<string, string>; id?: string }): FakeRegistry {
    const registry: FakeRegistry = { id: r.id ?? yandexId("crp"), folderId: r.folderId, name: r.name, status: "ACTIVE", createdAt: rfc3339(new Date()), labels: r.labels ?? {} };
    this.registries.set(registry.id, registry);
    return registry;
  }

  addImage(registryId: string, repository: string, i: { digest: string; tags?: string[]; compressedSize?: number; config?: Omit<FakeBlob, "id">; layers?: Array<Omit<FakeBlob, "id">>; createdAt?: Date }): FakeImage {
    const blob = (b: Omit<FakeBlob, "id">): FakeBlob => ({ id: yandexId("crb"), ...b });
    const layers = (i.layers ?? []).map(blob);
    const config = i.config ? blob(i.config) : undefined;
    const image: FakeImage = {
      id: yandexId("crp"),
      registryId,
      name: `${registryId}/${repository}`,
      digest: i.digest,
      compressedSize: i.compressedSize ?? layers.reduce((n, l) => n + l.size, config?.size ?? 0),
      config,
      layers,
      tags: i.tags ?? [],
      createdAt: rfc3339(i.createdAt ?? new Date(), true),
    };
    this.images.set(image.id, image);
    this.addRepository(image.name);
    return image;
  }

  /** The repository of this Yandex name, made if there is none (as a push makes it). */
  addRepository(name: string): FakeRepository {
    const existing = this.repositoryNamed(name);
    if (existing) return existing;
    const repository: FakeRepository = { id: yandexId("crr"), registryId: name.slice(0, name.indexOf("/")), name };
    this.repositories.set(repository.id, repository);
    return repository;
  }

  repositoryNamed(name: string): FakeRepository | undefined {
    return [...this.repositories.values()].find((r) => r.name === name);
  }
}

/** RFC3339 in UTC; with `nanos`, nine fractional digits as Yandex sends for images. */
export function rfc3339(d: Date, nanos = false): string {
  const iso = d.toISOString();
  return nanos ? iso.replace(/\.(\d{3})Z$/, (_, ms: string) => `.${ms}${String(Math.floor(Math.random() * 1e6)).padStart(6, "0")}Z`) : iso;
}

/** Yandex-style ids: a 3-letter service prefix and 17 base32-ish characters (20 in all). */
export function yandexId(prefix: string): string {
  const alphabet = "abcdefghijklmnopqrstuv0123456789";
  let out = prefix;
  for (const b of randomBytes(17)) out += alphabet[b % 32];
  return out;
}
