import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/core/config.js";

function configFile(yaml: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "regplane-config-")), "regplane.yaml");
  writeFileSync(file, yaml);
  return file;
}

describe("server.heapGrowingPercent", () => {
  it("defaults to 30, and the file and then the environment override it", () => {
    expect(loadConfig({ flags: {}, env: {} }).heapGrowingPercent).toBe(30);
    const file = configFile("server: {heapGrowingPercent: 0}\n");
    expect(loadConfig({ flags: { config: file }, env: {} }).heapGrowingPercent).toBe(0);
    expect(loadConfig({ flags: { config: file }, env: { REGPLANE_HEAP_GROWING_PERCENT: "75" } }).heapGrowingPercent).toBe(75);
  });

  it("refuses what is not a whole number from 0 to 1000, naming the field", () => {
    for (const bad of ["-1", "1001", "12.5", "lots", " "]) {
      expect(() => loadConfig({ flags: {}, env: { REGPLANE_HEAP_GROWING_PERCENT: bad } })).toThrow(ConfigError);
      expect(() => loadConfig({ flags: {}, env: { REGPLANE_HEAP_GROWING_PERCENT: bad } })).toThrow(/server\.heapGrowingPercent: expected a whole number 0-1000/);
    }
  });
});
