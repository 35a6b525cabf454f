// TLS and mutual TLS on both ports, with certificates made by openssl at test time: grpc-js, Connect
// over HTTP/1.1 and HTTP/2, gRPC-Web and curl (ALPN picks the HTTP version), then client certificates
// whose subject is the principal, next to API keys on the same ports.
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, type DescService } from "@bufbuild/protobuf";
import { ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../src/gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../src/gen/google/rpc/status_pb.js";
import { ImageService } from "../src/gen/regplane/v1/image_service_pb.js";
import { NamespaceService } from "../src/gen/regplane/v1/namespace_service_pb.js";
import { hashApiKey, newApiKey } from "../src/core/api-keys.js";
import { definitionOf } from "../src/server/grpc.js";
import { errorInfo } from "./support/clients.js";
import { makeTempDir, run, writeSyntheticImage } from "./support/images.js";
import { startServer, type ServerProcess } from "./support/server.js";

const exec = promisify(execFile);
const S = grpc.status;

interface Pem {
  cert: Buffer;
  key: Buffer;
}

interface Certificates {
  serverCa: Buffer;
  server: { certFile: string; keyFile: string };
  clientCaFile: string;
  /** Signed by the client CA, subject O=Acme,CN=deployer (granted in the config). */
  deployer: Pem;
  /** Signed by the client CA, subject O=Acme,CN=stranger (granted nothing). */
  stranger: Pem;
  /** Self-signed with the deployer's subject: the subject alone must not be enough. */
  forged: Pem;
}

async function makeCertificates(): Promise<Certificates> {
  const dir = await makeTempDir("regplane-tls-");
  const f = (name: string) => path.join(dir, name);
  const days = ["-days", "2"];
  const ca = async (name: string, cn: string) => run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f(`${name}.key`), "-out", f(`${name}.pem`), ...days, "-subj", `/CN=${cn}`]);
  const signed = async (name: string, subject: string, caName: string, ext: string) => {
    writeFileSync(f(`${name}.ext`), ext);
    await run("openssl", ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", f(`${name}.key`), "-out", f(`${name}.csr`), "-subj", subject]);
    await run("openssl", ["x509", "-req", "-in", f(`${name}.csr`), "-CA", f(`${caName}.pem`), "-CAkey", f(`${caName}.key`), "-CAcreateserial", "-out", f(`${name}.pem`), ...days, "-extfile", f(`${name}.ext`)]);
  };
  await ca("server-ca", "regplane test server CA");
  await ca("client-ca", "regplane test client CA");
  await signed("server", "/CN=127.0.0.1", "server-ca", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  await signed("deployer", "/O=Acme/CN=deployer", "client-ca", "extendedKeyUsage=clientAuth\n");
  await signed("stranger", "/O=Acme/CN=stranger", "client-ca", "extendedKeyUsage=clientAuth\n");
  await run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f("forged.key"), "-out", f("forged.pem"), ...days, "-subj", "/O=Acme/CN=deployer"]);
  const pem = (name: string): Pem => ({ cert: readFileSync(f(`${name}.pem`)), key: readFileSync(f(`${name}.key`)) });
  return {
    serverCa: readFileSync(f("server-ca.pem")),
    server: { certFile: f("server.pem"), keyFile: f("server.key") },
    clientCaFile: f("client-ca.pem"),
    deployer: pem("deployer"),
    stranger: pem("stranger"),
    forged: pem("forged"),
  };
}

interface Outcome {
  code: number;
  res?: any;
  reason?: string;
  message?: string;
}

/** A grpc-js call over TLS, trusting the test server CA, optionally presenting a client certificate. */
async function grpcCall(server: ServerProcess, certs: Certificates, service: DescService, method: string, req: object, o: { client?: Pem; headers?: Record<string, string> } = {}): Promise<Outcome> {
  const Ctor = grpc.makeGenericClientConstructor(definitionOf(service), service.typeName);
  const client = new Ctor(server.grpcAddress, grpc.credentials.createSsl(certs.serverCa, o.client?.key ?? null, o.client?.cert ?? null));
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(o.headers ?? {})) md.set(k, v);
  const m = service.methods.find((x) => x.localName === method)!;
  try {
    return await new Promise<Outcome>((resolve) => {
      (client as unknown as Record<string, Function>)[method](create(m.input, req as never), md, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null, res: unknown) => {
        if (!err) return resolve({ code: 0, res });
        const bin = err.metadata?.get("grpc-status-details-bin")?.[0];
        resolve({ code: err.code, message: err.details, reason: errorInfo(bin ? fromBinary(StatusSchema, bin as Buffer) : undefined)?.reason });
      });
    });
  } finally {
    client.close();
  }
}

type HttpVia = "connect-h1" | "connect-h2" | "grpc-web-h1" | "grpc-h2";

/** A call to the HTTPS port with connect-node's transports; the HTTP version is negotiated by ALPN. */
async function httpCall(server: ServerProcess, certs: Certificates, via: HttpVia, service: DescService, method: string, req: object, o: { client?: Pem; headers?: Record<string, string> } = {}): Promise<Outcome> {
  const baseUrl = `https://127.0.0.1:${server.httpPort}`;
  const tls = { ca: certs.serverCa, cert: o.client?.cert, key: o.client?.key };
  const transport =
    via === "connect-h1"
      ? createConnectTransport({ baseUrl, httpVersion: "1.1", nodeOptions: tls, useBinaryFormat: true })
      : via === "connect-h2"
        ? createConnectTransport({ baseUrl, httpVersion: "2", nodeOptions: tls })
        : via === "grpc-web-h1"
          ? createGrpcWebTransport({ baseUrl, httpVersion: "1.1", nodeOptions: tls })
          : createGrpcTransport({ baseUrl, nodeOptions: tls });
  const client = createClient(service, transport) as Client<DescService>;
  try {
    const fn = (client as unknown as Record<string, (r: object, o: object) => Promise<unknown>>)[method];
    return { code: 0, res: await fn(req, { headers: o.headers ?? {} }) };
  } catch (err) {
    if (!(err instanceof ConnectError)) throw err;
    return { code: err.code, message: err.rawMessage, reason: err.findDetails(ErrorInfoSchema)[0]?.reason };
  }
}

const HTTP_VIAS: HttpVia[] = ["connect-h1", "connect-h2", "grpc-web-h1", "grpc-h2"];

/** The same call on the gRPC port and every HTTP-port protocol. */
async function everywhere(server: ServerProcess, certs: Certificates, service: DescService, method: string, req: object, o: { client?: Pem; headers?: Record<string, string> } = {}): Promise<Outcome[]> {
  const out = [await grpcCall(server, certs, service, method, req, o)];
  for (const via of HTTP_VIAS) out.push(await httpCall(server, certs, via, service, method, req, o));
  return out;
}

function expectCodes(outcomes: Outcome[], code: number): void {
  for (const o of outcomes) expect(o.code, o.message).toBe(code);
}

let certs: Certificates;

beforeAll(async () => {
  certs = await makeCertificates();
}, 60_000);

describe("TLS on both ports", () => {
  let server: ServerProcess;

  beforeAll(async () => {
    const dataDir = await makeTempDir();
    await writeSyntheticImage(path.join(dataDir, "registry/team/app"), { tag: "v1" });
    server = await startServer({ dataDir, args: ["--tls-cert", certs.server.certFile, "--tls-key", certs.server.keyFile] });
  }, 60_000);

  afterAll(async () => {
    if (server) expect(await server.stop()).toBe(0);
  });

  it("serves grpc-js, Connect over HTTP/1.1 and HTTP/2, gRPC-Web and gRPC over TLS", async () => {
    const outcomes = await everywhere(server, certs, ImageService, "list", {});
    expectCodes(outcomes, 0);
    for (const o of outcomes) expect(o.res.images.length).toBe(1);
    expect(server.logs.find((l) => l.msg === "regplane serving")!.tls).toBe("tls");
  });

  it("lets ALPN pick HTTP/2 or HTTP/1.1 on the HTTP port (curl)", async () => {
    const caFile = path.join(server.dataDir, "server-ca.pem");
    writeFileSync(caFile, certs.serverCa);
    for (const [flag, version] of [["--http1.1", "1.1"], ["--http2", "2"]]) {
      const { stdout } = await exec("curl", ["-sS", "--cacert", caFile, flag, "-o", "/dev/null", "-w", "%{http_version} %{http_code}", `https://127.0.0.1:${server.httpPort}/healthz`]);
      expect(stdout).toBe(`${version} 200`);
    }
  });

  it("refuses plaintext clients on both ports", async () => {
    const plain = new (grpc.makeGenericClientConstructor(definitionOf(ImageService), "ImageService"))(server.grpcAddress, grpc.credentials.createInsecure());
    const code = await new Promise<number>((resolve) =>
      (plain as unknown as Record<string, Function>).list(create(ImageService.method.list.input, {}), new grpc.Metadata(), { deadline: Date.now() + 3000 }, (err: grpc.ServiceError | null) => resolve(err ? err.code : 0)),
    );
    plain.close();
    expect(code).not.toBe(0);
    await expect(fetch(`http://127.0.0.1:${server.httpPort}/healthz`)).rejects.toThrow();
  });
});

describe("client certificates (mTLS) next to API keys", () => {
  let server: ServerProcess;
  const key = newApiKey();

  beforeAll(async () => {
    const dataDir = await makeTempDir();
    await writeSyntheticImage(path.join(dataDir, "registry/team/app"), { tag: "v1" });
    const config = {
      tls: { cert: certs.server.certFile, key: certs.server.keyFile, clientCa: certs.clientCaFile },
      auth: {
        keys: [{ name: "ci", hash: await hashApiKey(key), folders: ["*"], role: "editor" }],
        clientCerts: [{ subject: "O=Acme,CN=deployer", folders: ["default"], role: "viewer" }],
      },
    };
    server = await startServer({ dataDir, config: stringify(config) });
  }, 60_000);

  afterAll(async () => {
    if (server) expect(await server.stop()).toBe(0);
  });

  it("makes the verified subject the principal, with the folders and role its config entry grants", async () => {
    expectCodes(await everywhere(server, certs, ImageService, "list", {}, { client: certs.deployer }), 0);
    const denied = await everywhere(server, certs, NamespaceService, "create", { registryId: "local", name: "from-cert" }, { client: certs.deployer });
    expectCodes(denied, S.PERMISSION_DENIED);
    for (const o of denied) expect(o.reason).toBe("ROLE_LACKS_METHOD");
    expect(server.logs.some((l) => l.msg === "rpc" && l.principal === "O=Acme,CN=deployer")).toBe(true);
  });

  it("answers a CA-signed certificate whose subject no entry grants PERMISSION_DENIED", async () => {
    const outcomes = await everywhere(server, certs, ImageService, "list", {}, { client: certs.stranger });
    expectCodes(outcomes, S.PERMISSION_DENIED);
    for (const o of outcomes) expect(o.reason).toBe("SUBJECT_NOT_GRANTED");
  });

  it("does not take a granted subject from a certificate the client CA did not sign", async () => {
    expectCodes(await everywhere(server, certs, ImageService, "list", {}, { client: certs.forged }), S.UNAUTHENTICATED);
  });

  it("accepts API keys without a client certificate, and refuses calls with neither", async () => {
    expectCodes(await everywhere(server, certs, ImageService, "list", {}, { headers: { authorization: `Bearer ${key}` } }), 0);
    expectCodes(await everywhere(server, certs, ImageService, "list", {}), S.UNAUTHENTICATED);
  });

  it("prefers the API key when a call carries both", async () => {
    const op = await grpcCall(server, certs, NamespaceService, "create", { registryId: "local", name: "by-key" }, { client: certs.deployer, headers: { authorization: `Bearer ${key}` } });
    expect(op.code, op.message).toBe(0);
    expect(op.res.createdBy).toBe("ci");
    expect(server.logs.find((l) => l.msg === "regplane serving")!.tls).toBe("mtls");
  });
});
