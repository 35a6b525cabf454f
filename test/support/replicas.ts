// Several regplane processes on one PostgreSQL and one data dir, and a gate that keeps an operation running.
import { constants as fsConstants } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ImageService } from "../../src/gen/regplane/v1/image_service_pb.js";
import { NamespaceService } from "../../src/gen/regplane/v1/namespace_service_pb.js";
import type { Operation } from "../../src/gen/regplane/v1/operation_pb.js";
import { OperationService } from "../../src/gen/regplane/v1/operation_service_pb.js";
import { GrpcClient } from "./clients.js";
import { run } from "./images.js";
import { startServer, type ServerProcess } from "./server.js";

/** Repeats a check until it holds; the test's own timeout bounds it, not a wall-clock margin here. */
export async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await sleep(10);
}

/** Operations running anywhere, as the store counts them (regplane_operations{state="running"}). */
export async function runningCount(s: ServerProcess): Promise<number> {
  const text = await (await fetch(`${s.httpUrl}/metrics`)).text();
  const m = /^regplane_operations\{state="running"\}\s+(\S+)$/m.exec(text);
  return m ? Number(m[1]) : 0;
}

export interface Replica {
  server: ServerProcess;
  images: GrpcClient;
  ops: GrpcClient;
  namespaces: GrpcClient;
}

export const alive = (r: Replica): boolean => r.server.child.exitCode === null && r.server.child.signalCode === null;

export async function startReplica(o: { dataDir: string; databaseUrl: string; config: string }): Promise<Replica> {
  const server = await startServer({
    dataDir: o.dataDir,
    config: o.config,
    env: { REGPLANE_STATE_DRIVER: "postgres", REGPLANE_DATABASE_URL: o.databaseUrl },
  });
  return {
    server,
    images: new GrpcClient(ImageService, server.grpcAddress),
    ops: new GrpcClient(OperationService, server.grpcAddress),
    namespaces: new GrpcClient(NamespaceService, server.grpcAddress),
  };
}

export async function stopReplica(r: Replica): Promise<void> {
  r.images.close();
  r.ops.close();
  r.namespaces.close();
  await r.server.kill();
}

export interface Gate {
  op: Operation;
  /** Unblocks the handler; with `removeNamespace` its directory is gone first, so the handler's next step fails. */
  release(options?: { removeNamespace?: boolean }): Promise<void>;
}

/** A namespace update that blocks reading a FIFO until released: an operation that stays running. */
export async function gateOperation(on: Replica, registryDir: string, name: string): Promise<Gate> {
  const dir = path.join(registryDir, name);
  await fs.mkdir(dir, { recursive: true });
  const fifo = path.join(dir, ".regplane-namespace.json");
  await run("mkfifo", [fifo]);
  const op = (await on.namespaces.call("update", { namespaceId: `local/${name}`, description: "held", updateMask: { paths: ["description"] } })) as Operation;
  return {
    op,
    async release(options = {}) {
      let handle: fs.FileHandle | undefined;
      // Opening for writing without blocking fails (ENXIO) until some replica has it open for reading.
      await until(async () => {
        try {
          handle = await fs.open(fifo, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
          return true;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "ENXIO") return false;
          throw err;
        }
      });
      if (options.removeNamespace) await fs.rm(dir, { recursive: true, force: true });
      await handle!.writeFile(JSON.stringify({ description: "held" }));
      await handle!.close();
    },
  };
}
