// What every figure module provides to bench/run.ts, and what run.ts gives each figure.
import type { Row } from "./results.js";

export interface BenchContext {
  quick: boolean;
  /** Kept across runs: generated catalogs and registry storage. */
  cacheDir: string;
  /** This run's scratch space, removed at the end. */
  workDir: string;
  /** A progress line. */
  log(message: string): void;
}

export interface FigureOutcome {
  rows: Row[];
  /** How it was measured, one point per line, for latest.md. */
  method: string[];
}

export interface Figure {
  name: string;
  title: string;
  run(ctx: BenchContext): Promise<FigureOutcome>;
}
