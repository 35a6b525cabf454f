// The repository names of one registry, which images and namespaces both walk: the catalog's pages, or
// the configured `repositories` with their prefixes expanded through the catalog when it answers.
import { Code, RegplaneError } from "../../core/errors.js";
import { isRepositoryName } from "../../core/manifest.js";
import { compareStrings } from "../../core/order.js";
import { catalogResumePoint, inCodeUnitOrder, type DistributionClient } from "../../core/distribution/index.js";
import type { HttpLogger } from "../../core/http/index.js";

const CATALOG_CLOSED_TTL_MS = 5 * 60_000;

export class OciCatalog {
  private catalogClosedUntil = 0;
  private warnedInvalidNames = false;

  /**
   * `configuredRepositories`: exact names, or prefixes ending in "/" (undefined lists the catalog);
   * `catalogPageSize`: `n` of each _catalog request.
   */
  constructor(
    private readonly id: string,
    private readonly client: DistributionClient,
    private readonly configuredRepositories: string[] | undefined,
    private readonly catalogPageSize: number,
    private readonly logger?: HttpLogger,
  ) {}

  /** Repository names in ascending code-unit order starting at `from` (inclusive), one name at a time. */
  async *repositoriesFrom(from: string | undefined, signal: AbortSignal): AsyncGenerator<string> {
    if (from !== undefined && this.configuredRepositories === undefined && isRepositoryName(from)) yield from;
    for await (const repositories of this.repositoryBatches(from, signal, true)) yield* repositories;
  }

  /**
   * Repository names after `after` (exclusive; inclusive with `inclusive` for configured lists) in
   * code-unit order, in batches: catalog pages put in that order, or the configured list with its
   * prefixes expanded.
   */
  async *repositoryBatches(after: string | undefined, signal: AbortSignal, inclusive = false): AsyncGenerator<string[]> {
    if (this.configuredRepositories === undefined) {
      try {
        const pages = this.client.catalog(after === undefined ? undefined : catalogResumePoint(after), this.catalogPageSize, signal);
        yield* inCodeUnitOrder(this.validPages(pages), after);
      } catch (e) {
        throw withCatalogHint(e);
      }
      return;
    }
    const names = await this.expandConfigured(signal);
    yield names.filter((n) => after === undefined || n > after || (inclusive && n === after));
  }

  private async *validPages(pages: AsyncIterable<string[]>): AsyncGenerator<string[]> {
    for await (const page of pages) yield this.validNames(page);
  }

  private validNames(names: string[]): string[] {
    const valid = names.filter(isRepositoryName);
    if (valid.length < names.length && !this.warnedInvalidNames) {
      this.warnedInvalidNames = true;
      this.logger?.warn("catalog lists repository names outside the Distribution grammar; skipping them", {
        registry: this.id,
        example: names.find((n) => !isRepositoryName(n))?.slice(0, 100),
      });
    }
    return valid;
  }

  private async expandConfigured(signal: AbortSignal): Promise<string[]> {
    const entries = this.configuredRepositories ?? [];
    const exact = new Set(entries.filter((e) => !e.endsWith("/")));
    const prefixes = entries.filter((e) => e.endsWith("/"));
    if (prefixes.length > 0) {
      const expanded = Date.now() >= this.catalogClosedUntil ? await this.expandPrefixes(prefixes, signal) : undefined;
      // A closed catalog leaves each prefix as the one repository it names.
      for (const p of prefixes) {
        const matches = expanded?.get(p);
        if (matches === undefined) exact.add(p.slice(0, -1));
        else for (const m of matches) exact.add(m);
      }
    }
    return [...exact].sort(compareStrings);
  }

  /** prefix → matching repositories from the catalog, or undefined when the catalog is closed to us. */
  private async expandPrefixes(prefixes: string[], signal: AbortSignal): Promise<Map<string, string[]> | undefined> {
    const found = new Map<string, string[]>(prefixes.map((p) => [p, []]));
    const sorted = [...prefixes].sort(compareStrings);
    try {
      // Start just below the smallest prefix: the catalog's `last` is exclusive.
      for await (const page of this.client.catalog(sorted[0].slice(0, -1), this.catalogPageSize, signal)) {
        for (const r of this.validNames(page)) for (const p of prefixes) if (r.startsWith(p)) found.get(p)!.push(r);
        const tail = page.at(-1)!;
        if (sorted.every((p) => tail > p && !tail.startsWith(p))) break;
      }
    } catch (e) {
      if (e instanceof RegplaneError && (e.code === Code.FAILED_PRECONDITION || e.code === Code.NOT_FOUND || e.code === Code.INVALID_ARGUMENT)) {
        this.catalogClosedUntil = Date.now() + CATALOG_CLOSED_TTL_MS;
        return undefined;
      }
      throw e;
    }
    return found;
  }
}

function withCatalogHint(e: unknown): unknown {
  if (!(e instanceof RegplaneError) || (e.code !== Code.FAILED_PRECONDITION && e.code !== Code.NOT_FOUND)) return e;
  if (e.errorInfo?.reason === "PROVIDER_LINK_REFUSED") return e;
  return new RegplaneError(e.code, `${e.message}; if the catalog is closed to these credentials, list the repositories in the registry's \`repositories\` setting`, {
    errorInfo: e.errorInfo,
    retryDelayMs: e.retryDelayMs,
  });
}
