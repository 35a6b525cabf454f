// Capabilities are declared once: the catalog refuses an adapter whose declared set and methods disagree,
// and the services refuse a registry by its declared set alone.
import { describe, expect, it } from "vitest";
import { Catalog } from "../src/core/catalog.js";
import { RegplaneError, Code } from "../src/core/errors.js";
import { capabilityMismatches, requireCapability, type Provider } from "../src/core/provider.js";
import type { Capability } from "../src/core/types.js";
import { MemoryProvider } from "./support/memory-provider.js";

/** The memory provider with another declared set (its methods stay as they are). */
function declaring(capabilities: Capability[]): Provider {
  const p = new MemoryProvider("m");
  Object.defineProperty(p, "capabilities", { value: new Set(capabilities) });
  return p;
}

describe("capabilities", () => {
  it("agree with the memory provider's methods as it declares them", () => {
    expect(capabilityMismatches(new MemoryProvider("m"))).toEqual([]);
    expect(() => new Catalog([new MemoryProvider("m")], [{ id: "f", registries: ["m"] }])).not.toThrow();
  });

  it("refuse a provider that declares a capability it has no method for, naming both", () => {
    const p = declaring(["list_images", "delete_namespaces", "create_namespaces"]);
    expect(capabilityMismatches(p)).toEqual(["declares create_namespaces but has no createNamespace"]);
    expect(() => new Catalog([p], [])).toThrow(/provider memory \(registry m\) declares create_namespaces but has no createNamespace/);
  });

  it("refuse a provider with a method it does not declare", () => {
    const p = declaring(["list_images"]);
    expect(capabilityMismatches(p)).toEqual(["has deleteNamespace but does not declare delete_namespaces"]);
    expect(() => new Catalog([p], [])).toThrow(/has deleteNamespace but does not declare delete_namespaces/);
  });

  it("requireCapability answers FAILED_PRECONDITION CAPABILITY_UNSUPPORTED from the declared set", () => {
    const p = new MemoryProvider("m");
    expect(requireCapability(p, "delete_namespaces")).toBe(p);
    const err = (() => {
      try {
        requireCapability(p, "create_registries");
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(RegplaneError);
    expect((err as RegplaneError).code).toBe(Code.FAILED_PRECONDITION);
    expect((err as RegplaneError).errorInfo).toEqual({
      reason: "CAPABILITY_UNSUPPORTED",
      metadata: { registry_id: "m", provider: "memory", capability: "create_registries" },
    });
  });
});
