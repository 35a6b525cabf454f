// The store contract against a real PostgreSQL 15, plus what only a shared database has: migrations
// raced by replicas, a newer schema refused, claims spread over processes, events across connections.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError } from "../src/core/config.js";
import { Code } from "../src/core/errors.js";
import { openStore } from "../src/store/open.js";
import { PostgresStore } from "../src/store/postgres.js";
import { POSTGRES_MIGRATIONS } from "../src/store/postgres-migrations.js";
import type { StoreEvent } from "../src/core/store.js";
import { startPostgres, type PostgresServer } from "./support/postgres.js";
import { describeStoreContract, newOp, at } from "./support/store-contract.js";

let server: PostgresServer;
let contractUrl: string | undefined;

beforeAll(async () => {
  server = await startPostgres();
}, 60_000);

afterAll(async () => {
  await server?.destroy();
});

describeStoreContract(
  "postgres",
  async () => {
    contractUrl ??= await server.createDatabase();
    return PostgresStore.open({ url: contractUrl });
  },
  async () => {
    contractUrl = undefined;
  },
);

describe("PostgresStore database", () => {
  it("applies the migrations once when replicas start together", async () => {
    const url = await server.createDatabase();
    const stores = await Promise.all(Array.from({ length: 5 }, () => PostgresStore.open({ url })));
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query("SELECT version FROM regplane_schema");
      expect(rows).toEqual([{ version: POSTGRES_MIGRATIONS.length }]);
    } finally {
      await client.end();
      for (const s of stores) await s.close();
    }
  });

  it("refuses to start on a schema newer than it knows, saying so", async () => {
    const url = await server.createDatabase();
    await (await PostgresStore.open({ url })).close();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query("UPDATE regplane_schema SET version = 999");
    await client.end();
    await expect(PostgresStore.open({ url })).rejects.toMatchObject({ code: Code.FAILED_PRECONDITION, message: expect.stringContaining("999") });
    const refused = openStore({ driver: "postgres", url }, "/nonexistent", { warn() {} });
    await expect(refused).rejects.toBeInstanceOf(ConfigError);
    await expect(refused).rejects.toThrow(/schema version 999 is newer/);
  });

  it("names host and port, never the password, when the database is unreachable", async () => {
    const url = `postgres://regplane:s3cret-pw@127.0.0.1:${server.port + 1}/regplane`;
    const err = await PostgresStore.open({ url }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.message).toContain(`127.0.0.1:${server.port + 1}/regplane`);
    expect(err!.message).not.toContain("s3cret-pw");
  });

  it("gives each operation to one claimer when many connections claim at once", async () => {
    const url = await server.createDatabase();
    const stores = await Promise.all(Array.from({ length: 4 }, () => PostgresStore.open({ url })));
    try {
      for (let i = 0; i < 100; i++) await stores[0]!.createOperation(newOp(`op-${String(i).padStart(3, "0")}`, { createdAt: at(i) }));
      const claimLoop = async (n: number): Promise<string[]> => {
        const got: string[] = [];
        for (;;) {
          const op = await stores[n]!.claimOperation(`w${n}`, 600_000, at(1000));
          if (!op) return got;
          got.push(op.id);
        }
      };
      const perWorker = await Promise.all(stores.map((_, n) => claimLoop(n)));
      const claimed = perWorker.flat();
      expect(claimed).toHaveLength(100);
      expect(new Set(claimed).size).toBe(100);
    } finally {
      for (const s of stores) await s.close();
    }
  });

  it("creates one operation per dedupe key and idempotency key under concurrent replicas", async () => {
    const url = await server.createDatabase();
    const stores = await Promise.all(Array.from({ length: 4 }, () => PostgresStore.open({ url })));
    try {
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          stores[i % 4]!.createOperation(newOp(`op-${i}`), i % 2 === 0 ? { dedupeKey: "image.delete:x" } : { idempotency: { caller: "c", key: "k" } }),
        ),
      );
      const dedupeIds = new Set(results.filter((_, i) => i % 2 === 0).map((r) => r.operation.id));
      const keyIds = new Set(results.filter((_, i) => i % 2 === 1).map((r) => r.operation.id));
      expect(dedupeIds.size).toBe(1);
      expect(keyIds.size).toBe(1);
      expect(results.filter((r) => r.created)).toHaveLength(2);
    } finally {
      for (const s of stores) await s.close();
    }
  });

  it("announces creates, finishes and cancels to every connection, and a resync after reconnecting", async () => {
    const url = await server.createDatabase();
    const [a, b] = await Promise.all([PostgresStore.open({ url }), PostgresStore.open({ url })]);
    try {
      const seen: StoreEvent[] = [];
      let onEvent = (): void => {};
      b.watch((e) => {
        seen.push(e);
        onEvent();
      });
      const next = (pred: (e: StoreEvent) => boolean): Promise<void> =>
        new Promise((resolve) => {
          const check = (): void => {
            if (seen.some(pred)) resolve();
          };
          onEvent = check;
          check();
        });
      await next((e) => e.kind === "resync");
      await a.createOperation(newOp("op-1"));
      await next((e) => e.kind === "created" && e.id === "op-1");
      await a.claimOperation("w", 60_000, new Date());
      await a.requestCancel("op-1", { code: 1, message: "cancelled", details: [] }, new Date());
      await next((e) => e.kind === "cancel" && e.id === "op-1");
      await a.finishOperation("op-1", "w", { error: { code: 1, message: "cancelled", details: [] } }, new Date());
      await next((e) => e.kind === "finished" && e.id === "op-1");

      // Drop b's LISTEN connection from the server side: b reconnects and says it may have missed events.
      const resyncs = seen.filter((e) => e.kind === "resync").length;
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`);
      await admin.end();
      await new Promise<void>((resolve) => {
        onEvent = () => {
          if (seen.filter((e) => e.kind === "resync").length > resyncs) resolve();
        };
      });
    } finally {
      await a.close();
      await b.close();
    }
  });
});
