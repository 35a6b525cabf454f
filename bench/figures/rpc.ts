// Figure 1: RPC overhead of ImageService.Get on the embedded registry, regplane against no-op servers
// (grpc-js for the gRPC port, connect-node for the Connect protocol), driven by h2load.
import { mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { create, fromBinary, toBinary, toJsonString } from "@bufbuild/protobuf";
import { ImageSchema, type Image } from "../../src/gen/regplane/v1/image_pb.js";
import { GetImageRequestSchema } from "../../src/gen/regplane/v1/image_service_pb.js";
import { writeCatalog } from "../lib/catalog.js";
import type { BenchContext, Figure, FigureOutcome } from "../lib/figure.js";
import { H2LOAD_INSTALL, hasH2load, latencyMs, runH2load, unexpectedFailures, type H2loadResult } from "../lib/h2load.js";
import { ROOT, startBenchServer, startRegplane, type BenchServer } from "../lib/process.js";
import { measured, notMeasured, type Goal, type Row } from "../lib/results.js";
import { grpcFrame, http2Post, imageClient, listPage } from "../lib/rpc-clients.js";
import { medianPair } from "../lib/stats.js";

const GET_PATH = "/regplane.v1.ImageService/Get";
const CLIENTS = 8;
const STREAMS = 16;

interface Target {
  label: string;
  origin: string;
}

interface Protocol {
  name: "grpc" | "connect";
  headers: Record<string, string>;
  body: string;
  goal: Goal;
}

/** Checks that the exact request body h2load sends gets the expected image back. */
async function verify(protocol: Protocol, target: Target, bodyBytes: Buffer, expected: Image): Promise<void> {
  const res = await http2Post(target.origin, GET_PATH, protocol.headers, bodyBytes);
  if (res.status !== 200) throw new Error(`${target.label} ${protocol.name} Get answered HTTP ${res.status}`);
  let id: string;
  if (protocol.name === "grpc") {
    const grpcStatus = res.trailers["grpc-status"] ?? res.headers["grpc-status"];
    if (grpcStatus !== "0") throw new Error(`${target.label} gRPC Get ended with grpc-status ${grpcStatus}: ${res.trailers["grpc-message"] ?? ""}`);
    id = fromBinary(ImageSchema, res.body.subarray(5)).id;
  } else {
    id = (JSON.parse(res.body.toString("utf8")) as { id?: string }).id ?? "";
  }
  if (id !== expected.id) throw new Error(`${target.label} ${protocol.name} Get returned image ${JSON.stringify(id)}, expected ${expected.id}`);
}

export const rpcFigure: Figure = {
  name: "rpc",
  title: "RPC overhead: ImageService.Get, regplane vs no-op servers",
  async run(ctx: BenchContext): Promise<FigureOutcome> {
    const goals = { grpc: { on: "ratio", op: ">=", target: 0.6 }, connect: { on: "ratio", op: ">=", target: 0.8 } } as const;
    if (!(await hasH2load())) {
      const reason = `h2load is not installed (${H2LOAD_INSTALL})`;
      ctx.log(reason);
      return {
        rows: [notMeasured("rpc.grpc.get.throughput", "req/s", reason, goals.grpc), notMeasured("rpc.connect.get.throughput", "req/s", reason, goals.connect)],
        method: [`h2load missing: ${H2LOAD_INSTALL}`],
      };
    }
    const rounds = ctx.quick ? 1 : 5;
    const duration = ctx.quick ? "1s" : "3s";
    const warmUp = ctx.quick ? "300ms" : "1s";
    const dir = path.join(ctx.workDir, "rpc");
    const dataDir = path.join(dir, "data");
    writeCatalog(path.join(dataDir, "registry"), { seed: "rpc", namespaces: 1, repositoriesPerNamespace: 2, imagesPerRepository: 5 });

    const regplane = await startRegplane({ dataDir });
    let noop: BenchServer<{ grpcPort: number; httpPort: number }> | undefined;
    try {
      const client = imageClient(regplane.grpcAddress);
      const listed = await listPage(client, { registryId: "local" }, 1);
      const first = listed.images[0];
      if (!first) throw new Error("the embedded registry listed no image");
      const image = (await client.call("get", { imageId: first.id })) as Image;
      if (image.digest !== first.digest) throw new Error("regplane Get returned another image than List");
      client.close();

      const fixtures = path.join(dir, "fixtures");
      mkdirSync(fixtures, { recursive: true });
      writeFileSync(path.join(fixtures, "get.bin"), toBinary(ImageSchema, image));
      noop = await startBenchServer(path.join(ROOT, "bench/servers/noop.ts"), ["--fixtures", fixtures]);

      const request = create(GetImageRequestSchema, { imageId: image.id });
      const frameFile = path.join(dir, "frame.bin");
      const jsonFile = path.join(dir, "body.json");
      writeFileSync(frameFile, grpcFrame(toBinary(GetImageRequestSchema, request)));
      writeFileSync(jsonFile, toJsonString(GetImageRequestSchema, request));

      const grpcPort = Number(regplane.grpcAddress.split(":")[1]);
      const protocols: Array<Protocol & { subject: Target; baseline: Target; bytes: Buffer }> = [
        {
          name: "grpc",
          headers: { "content-type": "application/grpc", te: "trailers" },
          body: frameFile,
          goal: goals.grpc,
          subject: { label: "regplane", origin: `http://127.0.0.1:${grpcPort}` },
          baseline: { label: "no-op grpc-js", origin: `http://127.0.0.1:${noop.ready.grpcPort}` },
          bytes: grpcFrame(toBinary(GetImageRequestSchema, request)),
        },
        {
          name: "connect",
          headers: { "content-type": "application/json" },
          body: jsonFile,
          goal: goals.connect,
          subject: { label: "regplane", origin: regplane.httpUrl },
          baseline: { label: "no-op connect-node", origin: `http://127.0.0.1:${noop.ready.httpPort}` },
          bytes: Buffer.from(toJsonString(GetImageRequestSchema, request)),
        },
      ];
      // A grpc-js client above proved the service works; these prove the bytes h2load will send do.
      for (const p of protocols) {
        await verify(p, p.subject, p.bytes, image);
        await verify(p, p.baseline, p.bytes, image);
      }

      const rows: Row[] = [];
      for (const p of protocols) {
        const results: Record<"subject" | "baseline", H2loadResult[]> = { subject: [], baseline: [] };
        for (let r = 0; r < rounds; r++) {
          // Alternating subject and baseline spreads the machine's background load over both.
          for (const side of ["subject", "baseline"] as const) {
            const target = p[side];
            const result = await runH2load({
              url: `${target.origin}${GET_PATH}`,
              headers: p.headers,
              dataFile: p.body,
              clients: CLIENTS,
              streamsPerClient: STREAMS,
              duration,
              warmUp,
              logFile: path.join(dir, `h2load-${p.name}-${side}-${r}.log`),
            });
            const bad = unexpectedFailures(result, CLIENTS, STREAMS);
            if (bad > 0 || result.status2xx === 0) {
              throw new Error(
                `h2load against ${target.label} (${p.name}): ${result.status2xx} 2xx, ${result.statusOther} other statuses, ` +
                  `${result.failed} failed, ${result.errored} errored, ${result.timeout} timed out`,
              );
            }
            results[side].push(result);
            ctx.log(`${p.name} round ${r + 1}/${rounds} ${target.label}: ${Math.round(result.reqPerSec)} req/s`);
          }
        }
        await verify(p, p.subject, p.bytes, image);
        const subjectRps = results.subject.map((x) => x.reqPerSec);
        const baselineRps = results.baseline.map((x) => x.reqPerSec);
        // Each round runs regplane and the baseline back to back: the figure is the round whose ratio is the median.
        const pair = medianPair(subjectRps, baselineRps);
        const lat = (side: "subject" | "baseline", q: number) => latencyMs(results[side].flatMap((x) => x.latenciesUs), q);
        const vs = `no-op ${p.name === "grpc" ? "@grpc/grpc-js" : "connect-node"} server`;
        rows.push(
          measured(`rpc.${p.name}.get.throughput`, "req/s", subjectRps[pair], baselineRps[pair], p.goal, `baseline: ${vs}; the round with the median ratio of ${rounds} (per round: ${subjectRps.map((v, i) => (v / baselineRps[i]).toFixed(2)).join(", ")})`),
          measured(`rpc.${p.name}.get.p50`, "ms", lat("subject", 50), lat("baseline", 50)),
          measured(`rpc.${p.name}.get.p99`, "ms", lat("subject", 99), lat("baseline", 99)),
        );
      }
      return {
        rows,
        method: [
          `h2load -c ${CLIENTS} -m ${STREAMS} -D ${duration} --warm-up-time ${warmUp}, ${rounds} round(s), each running regplane and then the baseline; throughput is that of the round whose ratio is the median (a pair measured back to back shares the machine's state, which medians taken apart would not), latencies are percentiles over every request of all rounds (from h2load's --log-file).`,
          "Subject: ImageService.Get of one image of the embedded registry (id resolved through the store, manifest read from the layout) on regplane's gRPC port (raw gRPC: `content-type: application/grpc`, `te: trailers`, body = 5-byte frame header + GetImageRequest) and on its HTTP port (Connect, `content-type: application/json`).",
          "Baselines: a no-op @grpc/grpc-js server (the same generated schemas and grpc-js bridge) and a no-op connect-node server on plain h2c, both in one process, answering the same Image bytes regplane returned.",
          "h2load counts only HTTP status, so before and after the runs one request with the exact body file is sent over HTTP/2 to each server and its grpc-status and image id are checked; a grpc-js client checked List → Get first.",
        ],
      };
    } finally {
      await noop?.stop();
      await regplane.stop();
    }
  },
};
