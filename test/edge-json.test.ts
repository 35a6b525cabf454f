// Connect JSON refuses what protobuf JSON refuses: a key the request message does not have is
// INVALID_ARGUMENT with a BadRequest naming it, instead of being dropped (a misspelt filter would list everything).
import { ConnectError } from "@connectrpc/connect";
import { errorFromJsonBytes } from "@connectrpc/connect/protocol-connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadRequestSchema } from "../src/gen/google/rpc/error_details_pb.js";
import { startEdgeApp, type EdgeApp } from "./support/edge-app.js";

let edge: EdgeApp;
beforeAll(async () => {
  edge = await startEdgeApp("registries:\n  - { id: reg, provider: memory }\n");
});
afterAll(() => edge?.stop());

function postJson(path: string, body: string): Promise<Response> {
  return fetch(edge.httpUrl + path, { method: "POST", headers: { "content-type": "application/json" }, body });
}

describe("Connect JSON and unknown fields", () => {
  it("answers a misspelt field with INVALID_ARGUMENT and a BadRequest naming it", async () => {
    const res = await postJson("/regplane.v1.ImageService/List", JSON.stringify({ registryId: "reg", repositoryNam: "nothing-here" }));
    expect(res.status).toBe(400);
    const err = errorFromJsonBytes(new Uint8Array(await res.arrayBuffer()), undefined, new ConnectError("not a Connect error body"));
    expect(err.code).toBe(3);
    expect(err.rawMessage).toContain("repositoryNam");
    const violations = err.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations);
    expect(violations.map((v) => v.field)).toEqual(["repositoryNam"]);
    expect(edge.providers.get("reg")!.calls).toBe(0);
  });

  it("names the unknown key on another service too", async () => {
    const res = await postJson("/regplane.v1.NamespaceService/List", JSON.stringify({ registryId: "reg", pageSiz: 3 }));
    expect(res.status).toBe(400);
    const err = errorFromJsonBytes(new Uint8Array(await res.arrayBuffer()), undefined, new ConnectError("not a Connect error body"));
    expect(err.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations.map((v) => v.field))).toEqual(["pageSiz"]);
  });

  it("still serves the same request spelt right, in both JSON field spellings", async () => {
    for (const body of [{ repositoryName: "reg/app" }, { repository_name: "reg/app" }]) {
      const res = await postJson("/regplane.v1.ImageService/List", JSON.stringify(body));
      expect(res.status).toBe(200);
      const json = (await res.json()) as { images: Array<{ name: string }> };
      expect(json.images).toHaveLength(2);
    }
  });
});
