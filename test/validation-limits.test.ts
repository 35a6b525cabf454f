// Every limit the protos declare is enforced at the edge: the table is derived from the buf.validate
// rules of every field of every RPC's request in src/gen (not written by hand), and each limit is tried
// just past it (INVALID_ARGUMENT with a BadRequest violation on that field and rule) and, where it has
// one, exactly at it (no violation of that rule) — on the gRPC port, the HTTP port (Connect), and the
// Yandex method paths that mirror our RPCs.
import * as fs from "node:fs";
import * as path from "node:path";
import { getOption, type DescField, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { field as validateField, type StringRules } from "../src/gen/buf/validate/validate_pb.js";
import { yandexMirrors } from "../src/server/yandex.js";
import type { ServiceBinding } from "../src/services/binding.js";
import { callAt, PORTS, type Port } from "./support/edge-call.js";
import { startServer, type ServerProcess } from "./support/server.js";

const INVALID_ARGUMENT = 3;
const GEN = path.resolve(import.meta.dirname, "../src/gen/regplane/v1");

interface Probe {
  /** The field's proto name, as BadRequest names it. */
  field: string;
  /** Rule id prefix a violation of this limit carries (e.g. "string.max_len", "int64." for a range). */
  rule: string;
  value: unknown;
  /** The request carrying `value` in the field (nested fields inside their parent messages). */
  req?: object;
  /** Just past the limit (must be refused) or exactly at it (must not break this rule). */
  past: boolean;
}

interface Row {
  service: DescService;
  method: DescMethod;
  probes: Probe[];
}

/** Every GenService exported by src/gen/regplane/v1/*_service_pb.ts. */
async function services(): Promise<DescService[]> {
  const out: DescService[] = [];
  for (const file of fs.readdirSync(GEN).filter((f) => f.endsWith("_service_pb.ts")).sort()) {
    const mod = (await import(path.join(GEN, file))) as Record<string, unknown>;
    for (const v of Object.values(mod)) if ((v as DescService | undefined)?.kind === "service") out.push(v as DescService);
  }
  return out;
}

const str = (n: number) => "a".repeat(n);
const duration = (ms: bigint) => ({ seconds: ms / 1000n, nanos: Number(ms % 1000n) * 1_000_000 });
const durationMs = (d: { seconds: bigint; nanos: number } | undefined) => (d ? d.seconds * 1000n + BigInt(Math.trunc(d.nanos / 1_000_000)) : 0n);

/** String rules (lengths, pattern, ip_prefix) as probes, the string placed in the field by `wrap`. */
function stringProbes(name: string, s: StringRules, wrap: (v: string) => unknown): Probe[] {
  const out: Probe[] = [];
  if (s.maxLen > 0n) {
    const n = Number(s.maxLen);
    out.push({ field: name, rule: "string.max_len", value: wrap(str(n + 1)), past: true }, { field: name, rule: "string.max_len", value: wrap(str(n)), past: false });
  }
  if (s.minLen > 0n) out.push({ field: name, rule: "string.min_len", value: wrap(str(Number(s.minLen) - 1)), past: true });
  if (s.pattern) out.push({ field: name, rule: "string.pattern", value: wrap("!"), past: true });
  if (s.wellKnown.case === "ipPrefix") out.push({ field: name, rule: "string.ip_prefix", value: wrap("!"), past: true });
  return out;
}

/** A value in its field of the request; a member of a oneof is set as that oneof's case. */
function placed(f: DescField, v: unknown): object {
  if (v === undefined) return {};
  return f.oneof ? { [f.oneof.localName]: { case: f.localName, value: v } } : { [f.localName]: v };
}

/**
 * The limits one field declares (and those of the fields of a message it holds), each as the value just
 * past it and, for bounds, the value at it; `place` puts a value where the field sits in the request.
 */
function probesOf(f: DescField, name = f.name, place = (v: unknown): object => placed(f, v)): Probe[] {
  const rules = getOption(f, validateField);
  const out: Probe[] = [];
  // Nested messages a few levels deep (a recursive type would otherwise never end).
  if (f.fieldKind === "message" && !f.message.typeName.startsWith("google.protobuf.") && name.split(".").length < 4) {
    for (const inner of f.message.fields) out.push(...probesOf(inner, `${name}.${inner.name}`, (v) => place(v === undefined ? {} : { [inner.localName]: v })));
  }
  if (rules.required) out.push({ field: name, rule: "required", value: undefined, past: true });
  for (const c of rules.cel) out.push({ field: name, rule: c.id, value: "!not(valid)", past: true });
  const t = rules.type;
  if (t.case === "string") {
    out.push(...stringProbes(name, t.value, (v) => v));
  } else if (t.case === "int64" || t.case === "int32") {
    const r = t.value;
    const big = (v: bigint | number) => (t.case === "int64" ? BigInt(v) : Number(v));
    if (r.lessThan.case === "lte") {
      const n = BigInt(r.lessThan.value);
      out.push({ field: name, rule: `${t.case}.`, value: big(n + 1n), past: true }, { field: name, rule: `${t.case}.`, value: big(n), past: false });
    }
    if (r.greaterThan.case === "gte") {
      const n = BigInt(r.greaterThan.value);
      out.push({ field: name, rule: `${t.case}.`, value: big(n - 1n), past: true }, { field: name, rule: `${t.case}.`, value: big(n), past: false });
    }
  } else if (t.case === "duration") {
    const r = t.value;
    if (r.lessThan.case === "lte") {
      const n = durationMs(r.lessThan.value);
      out.push({ field: name, rule: "duration.", value: duration(n + 1000n), past: true }, { field: name, rule: "duration.", value: duration(n), past: false });
    }
    if (r.greaterThan.case === "gte") {
      const n = durationMs(r.greaterThan.value);
      if (n > 0n) out.push({ field: name, rule: "duration.", value: duration(n - 1n), past: true });
      out.push({ field: name, rule: "duration.", value: duration(n), past: false });
    }
  } else if (t.case === "repeated") {
    const r = t.value;
    if (r.maxItems > 0n) out.push({ field: name, rule: "repeated.max_items", value: Array.from({ length: Number(r.maxItems) + 1 }, (_, i) => `10.0.${i}.0/24`), past: true });
    if (r.items?.type.case === "string") out.push(...stringProbes(name, r.items.type.value, (v) => [v]));
  } else if (t.case === "map") {
    const m = t.value;
    if (m.maxPairs > 0n) out.push({ field: name, rule: "map.max_pairs", value: Object.fromEntries(Array.from({ length: Number(m.maxPairs) + 1 }, (_, i) => [`k${i}`, "v"])), past: true });
    if (m.keys?.type.case === "string") out.push(...stringProbes(name, m.keys.type.value, (k) => ({ [k]: "v" })));
    if (m.values?.type.case === "string") out.push(...stringProbes(name, m.values.type.value, (v) => ({ k: v })));
  } else if (t.case === "enum" && t.value.definedOnly) {
    out.push({ field: name, rule: "enum.defined_only", value: 999, past: true });
  }
  return out.map((p) => (p.req !== undefined ? p : { ...p, req: place(p.value) }));
}

function rowsOf(all: DescService[]): Row[] {
  return all.flatMap((service) => service.methods.map((method) => ({ service, method, probes: method.input.fields.flatMap((f) => probesOf(f)) })));
}

/** Our service under a Yandex name: the messages are wire-identical, so only the path changes. */
function renamed(service: DescService, typeName: string): DescService {
  return { ...service, typeName };
}

let server: ServerProcess;
const all = await services();
const rows = rowsOf(all);
const mirrors = yandexMirrors(all.map((service) => ({ service }) as unknown as ServiceBinding));

beforeAll(async () => {
  server = await startServer();
}, 60_000);

afterAll(async () => {
  if (server) expect(await server.stop()).toBe(0);
});

async function probe(port: Port, service: DescService, method: DescMethod, p: Probe): Promise<void> {
  const out = await callAt(server, port, service, method.localName, p.req ?? {});
  // A map entry or list item is named under its field: labels["k"], api_subnet_allow_list[0].
  const broken = out.violations.filter((v) => (v.field === p.field || v.field.startsWith(`${p.field}[`)) && v.reason.startsWith(p.rule));
  if (p.past) {
    expect(out.code, `${service.typeName}/${method.name} ${p.field} ${p.rule}: ${out.message}`).toBe(INVALID_ARGUMENT);
    expect(broken, `${service.typeName}/${method.name} ${p.field}: violations ${JSON.stringify(out.violations)}`).not.toEqual([]);
  } else {
    expect(broken, `${service.typeName}/${method.name} ${p.field} at its limit: ${out.message}`).toEqual([]);
    expect(out.code).not.toBe(13);
  }
}

describe("the derived table", () => {
  it("covers every List RPC of every service, each with its page_size and page_token limits", () => {
    expect(all.map((s) => s.typeName).sort()).toEqual([
      "regplane.v1.BulkService",
      "regplane.v1.ImageService",
      "regplane.v1.LifecyclePolicyService",
      "regplane.v1.NamespaceService",
      "regplane.v1.OperationService",
      "regplane.v1.RegistryService",
      "regplane.v1.RepositoryService",
      "regplane.v1.TagService",
    ]);
    const lists = rows.filter((r) => r.method.name === "List");
    // BulkService and TagService have no List.
    const listing = all.filter((s) => s.methods.some((m) => m.name === "List"));
    expect(lists.map((r) => r.service.typeName).sort()).toEqual(listing.map((s) => s.typeName).sort());
    expect(listing).toHaveLength(6);
    for (const r of lists) {
      const limited = new Set(r.probes.map((p) => p.field));
      expect(limited, r.service.typeName).toContain("page_size");
      expect(limited, r.service.typeName).toContain("page_token");
    }
    expect(mirrors.flatMap((m) => m.service.methods.map((x) => `${m.service.typeName}/${x.name}`)).sort()).toEqual([
      "yandex.cloud.containerregistry.v1.ImageService/Delete",
      "yandex.cloud.containerregistry.v1.ImageService/Get",
      "yandex.cloud.containerregistry.v1.ImageService/List",
      "yandex.cloud.containerregistry.v1.LifecyclePolicyService/Create",
      "yandex.cloud.containerregistry.v1.LifecyclePolicyService/Delete",
      "yandex.cloud.containerregistry.v1.LifecyclePolicyService/DryRun",
      "yandex.cloud.containerregistry.v1.LifecyclePolicyService/Get",
      "yandex.cloud.containerregistry.v1.LifecyclePolicyService/GetDryRunResult",
      "yandex.cloud.containerregistry.v1.LifecyclePolicyService/List",
      "yandex.cloud.containerregistry.v1.LifecyclePolicyService/ListDryRunResultAffectedImages",
      "yandex.cloud.containerregistry.v1.LifecyclePolicyService/ListDryRunResults",
      "yandex.cloud.containerregistry.v1.LifecyclePolicyService/Update",
      "yandex.cloud.containerregistry.v1.RepositoryService/Create",
      "yandex.cloud.containerregistry.v1.RepositoryService/Delete",
      "yandex.cloud.containerregistry.v1.RepositoryService/Get",
      "yandex.cloud.containerregistry.v1.RepositoryService/GetByName",
      "yandex.cloud.containerregistry.v1.RepositoryService/List",
      "yandex.cloud.operation.OperationService/Cancel",
      "yandex.cloud.operation.OperationService/Get",
    ]);
  });

  it.each(PORTS)("RegistryService.List refuses page_size 1001 (%s port)", async (port) => {
    const registry = all.find((s) => s.typeName === "regplane.v1.RegistryService")!;
    const out = await callAt(server, port, registry, "list", { pageSize: 1001n });
    expect(out.code).toBe(INVALID_ARGUMENT);
    expect(out.violations.map((v) => v.field)).toContain("page_size");
  });
});

describe.each(PORTS)("every limited field (%s port)", (port) => {
  for (const row of rows.filter((r) => r.probes.length > 0)) {
    it(`${row.service.typeName}/${row.method.name}: ${[...new Set(row.probes.map((p) => p.field))].join(", ")}`, async () => {
      for (const p of row.probes) await probe(port, row.service, row.method, p);
    });
  }
});

describe("the Yandex method paths (gRPC port)", () => {
  for (const mirror of mirrors) {
    const ours = all.find((s) => s.typeName === mirror.binding.service.typeName)!;
    for (const m of mirror.service.methods) {
      const row = rows.find((r) => r.service === ours && r.method.name === m.name)!;
      it(`${mirror.service.typeName}/${m.name}: ${[...new Set(row.probes.map((p) => p.field))].join(", ")}`, async () => {
        expect(row.probes.length).toBeGreaterThan(0);
        for (const p of row.probes) await probe("grpc", renamed(ours, mirror.service.typeName), row.method, p);
      });
    }
  }
});
