// Random API keys against an scrypt-hashed key cannot starve anyone else: a key that failed is answered
// from a cache, at most limits.maxPendingKeyVerifications hashes run at once, and each client address
// has a bucket of failures (authFailureBurst, authFailuresPerSecond) after which it gets RESOURCE_EXHAUSTED.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { ConnectError, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../src/gen/google/rpc/error_details_pb.js";
import { ImageService } from "../src/gen/regplane/v1/image_service_pb.js";
import { RegplaneError } from "../src/core/errors.js";
import { hashApiKey, newApiKey } from "../src/core/api-keys.js";
import { Authenticator, type Caller, type VerificationResult } from "../src/server/auth.js";
import { connectClient, GrpcClient, GrpcError } from "./support/clients.js";
import { startEdgeApp, type EdgeApp } from "./support/edge-app.js";

const UNAUTHENTICATED = 16;
const RESOURCE_EXHAUSTED = 8;
const BURST = 5;
// One token every 10,000 s: within a test run the bucket holds the burst and nothing more.
const RATE = 0.0001;

const randomKey = () => "rpk_" + randomBytes(32).toString("base64url");

describe("Authenticator", () => {
  const make = async (limits: { authFailuresPerSecond: number; authFailureBurst: number; maxPendingKeyVerifications: number }) => {
    const results: VerificationResult[] = [];
    const key = newApiKey();
    const cheap = newApiKey();
    const auth = new Authenticator(
      {
        keys: [
          { name: "slow", hash: await hashApiKey(key, "scrypt"), folders: "*", role: "viewer" },
          { name: "fast", hash: await hashApiKey(cheap), folders: "*", role: "viewer" },
        ],
        clientCerts: [],
        protectHealth: false,
        protectReflection: false,
        insecureNoAuth: false,
      },
      limits,
      (r) => results.push(r),
    );
    const call = (presented: string | undefined, peerAddress = "10.0.0.1") =>
      auth.authenticate((name) => (name === "authorization" && presented !== undefined ? `Bearer ${presented}` : undefined), { peerAddress });
    return { key, cheap, results, call };
  };

  /** The code a call ends with, sync or async: 0 for a caller. */
  const codeOf = async (f: () => Caller | Promise<Caller>): Promise<number> => {
    try {
      await f();
      return 0;
    } catch (err) {
      return (err as RegplaneError).code;
    }
  };

  it("hashes a wrong key once, however often it is presented", async () => {
    const a = await make({ authFailuresPerSecond: 1, authFailureBurst: 1000, maxPendingKeyVerifications: 2 });
    const wrong = randomKey();
    for (let i = 0; i < 20; i++) expect(await codeOf(() => a.call(wrong))).toBe(UNAUTHENTICATED);
    expect(a.results).toEqual(["failed"]);
  });

  it("runs at most maxPendingKeyVerifications hashes at once and refuses the rest at once", async () => {
    const a = await make({ authFailuresPerSecond: 1, authFailureBurst: 1000, maxPendingKeyVerifications: 2 });
    const started: Array<Promise<unknown>> = [];
    const refused: string[] = [];
    for (let i = 0; i < 10; i++) {
      try {
        const r = a.call(randomKey());
        expect(r).toBeInstanceOf(Promise);
        started.push((r as Promise<Caller>).catch((e: RegplaneError) => e.code));
      } catch (err) {
        refused.push(`${(err as RegplaneError).code} ${(err as RegplaneError).errorInfo?.reason}`);
      }
    }
    expect(started).toHaveLength(2);
    expect(refused).toEqual(Array(8).fill(`${RESOURCE_EXHAUSTED} KEY_VERIFICATIONS_BUSY`));
    expect(await Promise.all(started)).toEqual([UNAUTHENTICATED, UNAUTHENTICATED]);
    // The slots are free again: the right key verifies.
    expect(((await a.call(a.key)) as Caller).name).toBe("slow");
  });

  it("limits failures per address, not for other addresses, and never for a valid key", async () => {
    const a = await make({ authFailuresPerSecond: RATE, authFailureBurst: 3, maxPendingKeyVerifications: 2 });
    const codes = [];
    for (let i = 0; i < 5; i++) codes.push(await codeOf(() => a.call(undefined, "10.0.0.1")));
    expect(codes).toEqual([UNAUTHENTICATED, UNAUTHENTICATED, UNAUTHENTICATED, RESOURCE_EXHAUSTED, RESOURCE_EXHAUSTED]);
    expect(await codeOf(() => a.call(randomKey(), "10.0.0.1"))).toBe(RESOURCE_EXHAUSTED);
    expect(a.results).toEqual([]);
    expect(await codeOf(() => a.call(undefined, "10.0.0.2"))).toBe(UNAUTHENTICATED);
    expect(await codeOf(() => a.call(a.cheap, "10.0.0.1"))).toBe(0);
    expect(await codeOf(() => a.call(a.key, "10.0.0.1"))).toBe(RESOURCE_EXHAUSTED);
  });

  it("verifies a scrypt key while every thread of libuv's pool is blocked (hashing never waits on the registries' pool)", async () => {
    const a = await make({ authFailuresPerSecond: 1, authFailureBurst: 1000, maxPendingKeyVerifications: 2 });
    const dir = mkdtempSync(path.join(tmpdir(), "regplane-pool-"));
    const poolSize = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
    const fifos = Array.from({ length: poolSize }, (_, i) => path.join(dir, `fifo-${i}`));
    for (const f of fifos) execFileSync("mkfifo", [f]);
    // Each open of a FIFO without a writer blocks one pool thread; together they hold the whole pool.
    const blocked = fifos.map((f) => readFile(f));
    try {
      expect(await codeOf(() => a.call(a.key))).toBe(0);
      expect(await codeOf(() => a.call(randomKey()))).toBe(UNAUTHENTICATED);
      expect(a.results).toEqual(["verified", "failed"]);
    } finally {
      // A writer that opens and closes each FIFO ends its blocked read (opened synchronously, off the pool).
      for (const f of fifos) closeSync(openSync(f, "w"));
      await Promise.all(blocked);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("a flood of random keys at the API edge", () => {
  let edge: EdgeApp;
  let tenantKey: string;
  beforeAll(async () => {
    tenantKey = newApiKey();
    const victim = await hashApiKey(newApiKey(), "scrypt");
    edge = await startEdgeApp(
      [
        "registries:",
        "  - { id: reg, provider: memory }",
        "auth:",
        "  keys:",
        `    - { name: ci, hash: "${victim}", folders: ["*"], role: editor }`,
        `    - { name: tenant, hash: "${await hashApiKey(tenantKey, "scrypt")}", folders: ["*"], role: viewer }`,
        "limits:",
        `  authFailuresPerSecond: ${RATE}`,
        `  authFailureBurst: ${BURST}`,
        "  maxPendingKeyVerifications: 2",
        "",
      ].join("\n"),
    );
  });
  afterAll(() => edge?.stop());

  async function verificationsFailed(): Promise<number> {
    const text = await (await fetch(`${edge.httpUrl}/metrics`)).text();
    return Number(/^regplane_key_verifications_total\{result="failed"\} (\d+)/m.exec(text)?.[1] ?? 0);
  }

  it("keeps serving another tenant while the flood gets UNAUTHENTICATED or RESOURCE_EXHAUSTED, with the hashing bounded", async () => {
    const connect = connectClient(ImageService, edge.httpUrl, "connect-binary") as Client<typeof ImageService>;
    const grpc = new GrpcClient(ImageService, edge.grpcAddress);
    const tenant = { authorization: `Bearer ${tenantKey}` };
    try {
      // The tenant's key is verified once, before the flood; from then on it is a cache hit.
      expect((await connect.list({ registryId: "reg" }, { headers: tenant })).images).toHaveLength(2);

      const floodCode = (p: Promise<unknown>) =>
        p.then(
          () => 0,
          (err: unknown) => (err instanceof ConnectError || err instanceof GrpcError ? err.code : -1),
        );
      const flood: Array<Promise<number>> = [];
      for (let i = 0; i < 200; i++) {
        const headers = { authorization: `Bearer ${randomKey()}` };
        flood.push(floodCode(i % 2 === 0 ? connect.list({ registryId: "reg" }, { headers }) : grpc.call("list", { registryId: "reg" }, { metadata: headers })));
      }
      const served: number[] = [];
      for (let i = 0; i < 20; i++) {
        const via = i % 2 === 0 ? connect.list({ registryId: "reg" }, { headers: tenant }) : grpc.call("list", { registryId: "reg" }, { metadata: tenant });
        served.push(((await via) as { images: unknown[] }).images.length);
      }
      const codes = await Promise.all(flood);
      expect(served).toEqual(Array(20).fill(2));
      const unauthenticated = codes.filter((c) => c === UNAUTHENTICATED).length;
      const exhausted = codes.filter((c) => c === RESOURCE_EXHAUSTED).length;
      expect(unauthenticated + exhausted).toBe(codes.length);
      expect(exhausted).toBeGreaterThan(0);
      // Every hash run was one refused flood call, and no more ran than the address's failure budget.
      const failed = await verificationsFailed();
      expect(failed).toBe(unauthenticated);
      expect(failed).toBeLessThanOrEqual(BURST + 1);
    } finally {
      grpc.close();
    }
  });

  it("answers an address out of failure tokens RESOURCE_EXHAUSTED with its reason", async () => {
    const connect = connectClient(ImageService, edge.httpUrl, "connect-binary") as Client<typeof ImageService>;
    const err = await connect.list({ registryId: "reg" }).then(() => undefined, (e: unknown) => e as ConnectError);
    expect(err?.code).toBe(RESOURCE_EXHAUSTED);
    expect(err?.findDetails(ErrorInfoSchema)[0]?.reason).toBe("AUTH_FAILURES_RATE_LIMITED");
  });
});
