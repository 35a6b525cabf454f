// The `state` section of the config: which store, where, and that a database password never sits in the file.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/core/config.js";

function load(yaml: string, env: NodeJS.ProcessEnv = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), "regplane-state-config-"));
  const file = path.join(dir, "regplane.yaml");
  writeFileSync(file, yaml);
  return loadConfig({ flags: { config: file, dataDir: dir }, env });
}

describe("config: state", () => {
  it("defaults to the SQLite file", () => {
    expect(load("{}\n").state).toEqual({ driver: "sqlite" });
  });

  it("takes postgres with the URL from the environment", () => {
    const env = { DB_URL: "postgres://regplane:pw@db:5432/regplane" };
    expect(load("state:\n  driver: postgres\n  url: ${DB_URL}\n", env).state).toEqual({ driver: "postgres", url: env.DB_URL });
    expect(load("{}\n", { REGPLANE_STATE_DRIVER: "postgres", REGPLANE_DATABASE_URL: env.DB_URL }).state).toEqual({
      driver: "postgres",
      url: env.DB_URL,
    });
    expect(load("state:\n  driver: postgres\n  url: postgres://regplane:${PW}@db/regplane\n  maxConnections: 4\n", { PW: "pw" }).state).toEqual({
      driver: "postgres",
      url: "postgres://regplane:pw@db/regplane",
      maxConnections: 4,
    });
  });

  it("refuses a password written in the file, without repeating it", () => {
    for (const url of ["postgres://regplane:hunter2@db/regplane", "postgres://db/regplane?password=hunter2"]) {
      let err: unknown;
      try {
        load(`state:\n  driver: postgres\n  url: ${url}\n`);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(/password must not be written in the config file/);
      expect((err as Error).message).not.toContain("hunter2");
    }
  });

  it("refuses an unknown driver and postgres without a URL", () => {
    expect(() => load("state:\n  driver: mysql\n")).toThrow(ConfigError);
    expect(() => load("state:\n  driver: postgres\n")).toThrow(/state.url/);
  });
});
