// Prometheus metrics for /metrics: per-RPC counts and latencies, operations by state and result.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export class Metrics {
  readonly registry = new Registry();
  readonly rpcTotal = new Counter({
    name: "regplane_rpc_total",
    help: "RPCs handled, by method, protocol and status code.",
    labelNames: ["method", "protocol", "code"] as const,
    registers: [this.registry],
  });
  readonly rpcSeconds = new Histogram({
    name: "regplane_rpc_duration_seconds",
    help: "RPC latency, by method and protocol.",
    labelNames: ["method", "protocol"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly keyVerifications = new Counter({
    name: "regplane_key_verifications_total",
    help: "scrypt API key verifications run, by result (verified or failed); repeated keys are answered from caches.",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  /** Read at scrape time for the regplane_operations gauge. */
  operationCounts?: () => Promise<Record<string, number>>;
  readonly operations: Gauge<"state">;
  readonly operationsFinished = new Counter({
    name: "regplane_operations_finished_total",
    help: "Operations finished by this process, by kind and result (ok or a status code name).",
    labelNames: ["kind", "result"] as const,
    registers: [this.registry],
  });
  readonly operationSeconds = new Histogram({
    name: "regplane_operation_duration_seconds",
    help: "Time from an operation's creation to its end, by kind.",
    labelNames: ["kind"] as const,
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800],
    registers: [this.registry],
  });

  constructor() {
    const metrics = this;
    this.operations = new Gauge({
      name: "regplane_operations",
      help: "Operations in the store, by state (pending, running, done).",
      labelNames: ["state"] as const,
      registers: [this.registry],
      async collect() {
        const counts = (await metrics.operationCounts?.()) ?? {};
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: "regplane_" });
  }
}
