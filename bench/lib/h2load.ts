// h2load (Debian nghttp2-client) runs and their output: throughput from the summary, latency
// percentiles from the per-request log (h2load's summary has no percentiles).
import { readFileSync, rmSync } from "node:fs";
import { hasCommand, runCommand } from "./process.js";
import { percentile } from "./stats.js";

export const H2LOAD_INSTALL = "apt-get install -y nghttp2-client";

export async function hasH2load(): Promise<boolean> {
  return hasCommand("h2load");
}

export interface H2loadOptions {
  url: string;
  headers: Record<string, string>;
  /** Request body file (h2load then sends POST). */
  dataFile: string;
  clients: number;
  streamsPerClient: number;
  /** h2load durations, e.g. "4s" or "500ms". */
  duration: string;
  warmUp: string;
  /** Where h2load writes one line per request. */
  logFile: string;
}

export interface H2loadResult {
  reqPerSec: number;
  total: number;
  succeeded: number;
  failed: number;
  errored: number;
  timeout: number;
  status2xx: number;
  /** 3xx, 4xx and 5xx answers. */
  statusOther: number;
  /** Per-request latency, microseconds. */
  latenciesUs: number[];
}

export function parseH2loadSummary(text: string): Omit<H2loadResult, "latenciesUs"> {
  const finished = /finished in [\d.]+\w*, ([\d.]+) req\/s/.exec(text);
  const requests = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(text);
  const status = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(text);
  if (!finished || !requests || !status) throw new Error(`unexpected h2load output:\n${text}`);
  return {
    reqPerSec: Number(finished[1]),
    total: Number(requests[1]),
    succeeded: Number(requests[4]),
    failed: Number(requests[5]),
    errored: Number(requests[6]),
    timeout: Number(requests[7]),
    status2xx: Number(status[1]),
    statusOther: Number(status[2]) + Number(status[3]) + Number(status[4]),
  };
}

/** Log lines are "start µs since epoch \t HTTP status \t µs to the end of the response". */
export function parseH2loadLog(text: string): number[] {
  const out: number[] = [];
  for (const line of text.split("\n")) {
    const cols = line.split("\t");
    if (cols.length >= 3 && cols[1].startsWith("2")) out.push(Number(cols[2]));
  }
  return out;
}

/**
 * Requests h2load had to give up: the streams still open when the duration ends are cut off and may
 * be counted as failed, so up to clients × streams of those are expected; anything else is not.
 */
export function unexpectedFailures(r: H2loadResult, clients: number, streamsPerClient: number): number {
  const cutOff = r.failed + r.errored + r.timeout;
  return r.statusOther + Math.max(0, cutOff - clients * streamsPerClient);
}

export async function runH2load(o: H2loadOptions): Promise<H2loadResult> {
  const args = [
    "-c", String(o.clients),
    "-m", String(o.streamsPerClient),
    "-D", o.duration,
    "--warm-up-time", o.warmUp,
    "-d", o.dataFile,
    "--log-file", o.logFile,
  ];
  for (const [k, v] of Object.entries(o.headers)) args.push("-H", `${k}: ${v}`);
  args.push(o.url);
  const summary = parseH2loadSummary(await runCommand("h2load", args));
  const latenciesUs = parseH2loadLog(readFileSync(o.logFile, "utf8"));
  rmSync(o.logFile, { force: true });
  return { ...summary, latenciesUs };
}

export function latencyMs(latenciesUs: number[], p: number): number {
  return percentile(latenciesUs, p) / 1000;
}
