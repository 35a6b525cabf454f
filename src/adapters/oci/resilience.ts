// Moved to src/core/resilience.ts; this path stays only because test/oci-provider.test.ts imports it.
// New code imports from core.
export { parseRetryAfter } from "../../core/resilience.js";
