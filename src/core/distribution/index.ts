// The OCI Distribution client in core, for the OCI adapter and for adapters whose registries expose the
// OCI API (IONOS deletes): the client, its options and the records it answers with.
export { DistributionClient } from "./client.js";
export { catalogResumePoint, inCodeUnitOrder } from "./catalog-order.js";
export {
  connectionProblem,
  deleteScope,
  pullScope,
  type CatalogPage,
  type DistributionClientOptions,
  type DistributionStats,
  type ManifestBytes,
  type ManifestDeleter,
  type ManifestHead,
  type RequestKind,
} from "./options.js";
