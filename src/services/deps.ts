// What every service is built from. Services know the catalog, never an adapter by name.
import type { Catalog } from "../core/catalog.js";
import type { Config } from "../core/config.js";
import type { OperationEngine } from "../core/operations.js";
import type { PageTokenCodec } from "../core/pagetoken.js";
import type { Store } from "../core/store.js";
import type { IdIndexes } from "./id-index.js";

export interface ServiceDeps {
  catalog: Catalog;
  store: Store;
  engine: OperationEngine;
  tokens: PageTokenCodec;
  config: Config;
  /** One image and one repository id index per process (their caches are shared by every service). */
  ids: IdIndexes;
}
