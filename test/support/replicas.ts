// Several regplane processes on one PostgreSQL and one data dir, and a gate that keeps an operation running.
import { setTimeout as sleep } from "node:timers/promises";
import type { Image } from "../../src/gen/regplane/v1/image_pb.js";
import { ImageService } from "../../src/gen/regplane/v1/image_service_pb.js";
import { NamespaceService } from "../../src/gen/regplane/v1/namespace_service_pb.js";
import type { Operation } from "../../src/gen/regplane/v1/operation_pb.js";
import { OperationService } from "../../src/gen/regplane/v1/operation_service_pb.js";
import { GrpcClient } from "./clients.js";
import type { GateRegistry } from "./delete-gate.js";
import { pushImage } from "./registry.js";
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
  /** Lets the held DELETE through; with `fail` it is answered with a permanent error, so the image stays. */
  release(options?: { fail?: boolean }): Promise<void>;
}

/** A delete of an image in the gate registry whose DELETE request is held until released: an operation that stays running. */
export async function gateOperation(on: Replica, gateRegistry: GateRegistry, name: string): Promise<Gate> {
  const repository = `held/${name}`;
  await pushImage(gateRegistry.layoutDir, "base", gateRegistry.registry.host, repository, "held");
  const listed = (await on.images.call("list", { repositoryName: `gate/${repository}`, pageSize: 10n })) as { images: Image[] };
  const image = listed.images[0];
  if (image === undefined) throw new Error(`gate/${repository} lists no image`);
  const held = gateRegistry.gate.hold(repository);
  const op = (await on.images.call("delete", { imageId: image.id })) as Operation;
  await held.arrived;
  return {
    op,
    async release(options = {}) {
      held.release(options);
    },
  };
}
