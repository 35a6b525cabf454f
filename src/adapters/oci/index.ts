// The OCI Distribution adapter: OciProvider for the catalog of registries, OciClient for adapters that
// reach a registry's OCI API themselves (IONOS deletes).
export { OciProvider, type OciProviderOptions } from "./provider.js";
export {
  OciClient,
  deleteScope,
  pullScope,
  type CatalogPage,
  type ManifestBytes,
  type ManifestHead,
  type OciClientOptions,
  type OciLogger,
  type OciStats,
  type RequestKind,
} from "./client.js";
