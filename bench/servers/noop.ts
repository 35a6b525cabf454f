// The baseline servers: ImageService answered by trivial handlers returning fixed messages (get.bin,
// list-100.bin, list-1000.bin in --fixtures: bytes captured from regplane in the same run), on @grpc/grpc-js and on connect-node, with the same
// generated schemas and the same grpc-js bridge as regplane. Started by bench/run.ts over IPC.
import { existsSync, readFileSync } from "node:fs";
import * as http2 from "node:http2";
import * as path from "node:path";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary } from "@bufbuild/protobuf";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { ImageSchema } from "../../src/gen/regplane/v1/image_pb.js";
import { ImageService, ListImagesResponseSchema, type ListImagesRequest } from "../../src/gen/regplane/v1/image_service_pb.js";
import { definitionOf } from "../../src/server/grpc.js";

const { values } = parseArgs({ options: { fixtures: { type: "string" } } });
const dir = values.fixtures!;
const getFile = path.join(dir, "get.bin");
const image = existsSync(getFile) ? fromBinary(ImageSchema, readFileSync(getFile)) : create(ImageSchema);
const lists = new Map<number, ReturnType<typeof fromBinary<typeof ListImagesResponseSchema>>>();
for (const size of [100, 1000]) {
  const file = path.join(dir, `list-${size}.bin`);
  if (existsSync(file)) lists.set(size, fromBinary(ListImagesResponseSchema, readFileSync(file)));
}
const listFor = (req: ListImagesRequest) => lists.get(req.pageSize === 0n ? 100 : Number(req.pageSize)) ?? { images: [] };

const grpcServer = new grpc.Server();
grpcServer.addService(definitionOf(ImageService), {
  get: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => callback(null, image),
  list: (call: grpc.ServerUnaryCall<ListImagesRequest, unknown>, callback: grpc.sendUnaryData<unknown>) => callback(null, listFor(call.request)),
  delete: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => callback({ code: grpc.status.UNIMPLEMENTED }),
});
const grpcPort = await new Promise<number>((resolve, reject) =>
  grpcServer.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
);

const connectServer = http2.createServer(
  connectNodeAdapter({
    routes: (router) => router.service(ImageService, { get: () => image, list: (req) => listFor(req) }),
  }),
);
const httpPort = await new Promise<number>((resolve) =>
  connectServer.listen(0, "127.0.0.1", () => resolve((connectServer.address() as { port: number }).port)),
);

process.on("SIGTERM", () => process.exit(0));
process.send!({ type: "ready", ready: { grpcPort, httpPort } });
