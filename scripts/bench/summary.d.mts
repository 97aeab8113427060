// Types of summary.mjs for the TypeScript tests.
export const root: string;
export const summaryPath: string;
export const readmeStart: string;
export const readmeEnd: string;
/** A run.mjs report (see run.mjs) to the committed summary's shape. */
export function summarize(report: unknown, options: { command: string; machineNote: string; previous?: BenchSummary }): BenchSummary;
export function readmeFigures(summary: BenchSummary): string;
export function withReadmeFigures(readme: string, block: string): string;

export interface BenchSummary {
  schema: string;
  date: string;
  command: string;
  machine: { cpu: string; cores: number; node: string; note: string };
  cases: Record<
    string,
    { batch: number; timedExamples: number; rates: Record<string, number>; rows?: number; maxRssMiB?: Record<string, number> }
  >;
  /** scripts/bench/long4096.mjs: BERT-base shape at 4096 tokens with --rows, peak RSS of the process tree. */
  long4096?: {
    model: string;
    command: string;
    examples: number;
    tokens: number;
    seconds: number;
    secondsPerExample: number;
    peakTreeRssMiB: number;
    date: string;
    machine: string;
  };
  kernel?: {
    simdMsPerExample: number;
    simdPairElementsPerSecond: number;
    blockLoopPeakPairElementsPerSecond: number;
    jsMsPerExample: number;
  };
}
