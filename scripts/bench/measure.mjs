// One measurement of the benchmark, in its own process (so threads, caches and max RSS are its
// own). Prints one JSON line. The first BENCH_WARMUP batches (default 3) are warm-up: rates
// count the batches after them.
//   node scripts/bench/measure.mjs ort|extract|analyze MODEL INPUTS.jsonl BATCH EXAMPLES [THREADS]
//   node scripts/bench/measure.mjs whatif MODEL CONFIG.reuse.json INPUTS.jsonl BATCH EXAMPLES
//   node scripts/bench/measure.mjs kernel L H TOKENS EXAMPLES
// BENCH_INTRA_OP=N and BENCH_SPINNING=0|1 set ONNX Runtime's intra-op threads and spin-waiting
// on every session this process creates, the runner's included, for experiments with session
// options (unset: whatever the code asks for, else ONNX Runtime's defaults).
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { clockProbe, kernelFigures, peakFigures } from './kernelFigures.mjs';

process.env.ORT_DISABLE_TELEMETRY ??= '1';
const require = createRequire(import.meta.url);
const out = (path) => require(`../../out/analysis/${path}`);

const [mode, ...args] = process.argv.slice(2);
const clockBefore = clockProbe();

/** The session options under experiment, as ONNX Runtime takes them. */
function sessionOverrides() {
  const o = {};
  if (process.env.BENCH_INTRA_OP) o.intraOpNumThreads = Number(process.env.BENCH_INTRA_OP);
  if (process.env.BENCH_SPINNING) o.extra = { session: { intra_op: { allow_spinning: process.env.BENCH_SPINNING } } };
  return o;
}
const overrides = sessionOverrides();
/** When each session.run resolved and how long it took (ms), for every session in this process. */
const runs = [];
{
  // Every session this process creates (the runner's too) reports its runs; the overrides apply.
  const { InferenceSession } = require('onnxruntime-node');
  const create = InferenceSession.create.bind(InferenceSession);
  InferenceSession.create = async (model, options = {}) => {
    const session = await create(model, { ...options, ...overrides });
    const run = session.run.bind(session);
    session.run = async (...a) => {
      const t0 = performance.now();
      const out = await run(...a);
      runs.push({ end: performance.now(), ms: performance.now() - t0 });
      return out;
    };
    return session;
  };
}
const sessionLabel = { intraOp: process.env.BENCH_INTRA_OP ?? 'default', spinning: process.env.BENCH_SPINNING ?? 'default' };

/** Batches left out of every rate: ONNX Runtime grows its memory over the first runs of a model with large outputs. */
const warmup = Math.max(1, Number(process.env.BENCH_WARMUP ?? 3));

/**
 * Times batches. The window opens when the last warm-up forward pass resolves (model loading
 * and the warm-up batches stay out) and closes when the last batch is done; the rate counts
 * the examples after the warm-up batches. In a pipelined run that window also holds the last
 * warm-up batch's similarity, so the rate errs low.
 */
function clock(started) {
  let first;
  let last;
  let done = 0;
  let firstCount = 0;
  let calls = 0;
  return {
    batch(count) {
      last = performance.now();
      done = count;
      calls += 1;
      if (calls === warmup) {
        first = last;
        firstCount = count;
      }
    },
    result(extra = {}) {
      if (runs.length >= warmup) first = runs[warmup - 1].end;
      const seconds = (last - first) / 1000;
      const timed = done - firstCount;
      return {
        mode,
        examples: done,
        warmupBatches: warmup,
        timedExamples: timed,
        seconds,
        rate: timed > 0 ? timed / seconds : null,
        totalSeconds: (last - started) / 1000,
        maxRSS: process.resourceUsage().maxRSS * 1024,
        cpuSeconds: cpuSeconds(),
        forwardMs: runs.map((r) => Math.round(r.ms)),
        ...sessionLabel,
        ...extra,
      };
    },
  };
}

/** CPU time of the whole process, every thread (ONNX Runtime's and the kernel workers') included. */
function cpuSeconds() {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
}

function readIds(path, limit) {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .slice(0, limit)
    .map((l) => JSON.parse(l));
}

async function bareOrt(model, inputs, batch, examples) {
  const ort = require('onnxruntime-node');
  const started = performance.now();
  // What the runner asks for, minus the exposed attention outputs.
  const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'all', executionProviders: ['cpu'] });
  const rows = readIds(inputs, examples);
  const c = clock(started);
  for (let i = 0; i < rows.length; i += batch) {
    const chunk = rows.slice(i, i + batch);
    const width = Math.max(...chunk.map((r) => r.input_ids.length));
    const ids = new BigInt64Array(chunk.length * width);
    const mask = new BigInt64Array(chunk.length * width);
    chunk.forEach((r, b) =>
      r.input_ids.forEach((id, t) => {
        ids[b * width + t] = BigInt(id);
        mask[b * width + t] = BigInt(r.attention_mask?.[t] ?? 1);
      }),
    );
    const shape = [chunk.length, width];
    await session.run({ input_ids: new ort.Tensor('int64', ids, shape), attention_mask: new ort.Tensor('int64', mask, shape) });
    c.batch(i + chunk.length);
  }
  await session.release();
  return c.result();
}

async function extractOnly(model, inputs, batch, examples) {
  const { readModel } = out('app/readers.js');
  const { openExamples } = out('app/examples.js');
  const { AttentionRunner } = out('runtime/runner.js');
  const started = performance.now();
  const opened = await readModel(model);
  const source = await openExamples(opened, { kind: 'jsonl', path: inputs }, examples);
  const runner = await AttentionRunner.start(opened, 'cpu');
  const c = clock(started);
  let values = 0;
  for await (const ex of runner.run(source.examples, { batchSize: batch, onProgress: (n) => c.batch(n) })) {
    for (const s of ex.stacks) values += s.layers.length * s.layers[0].length;
  }
  await runner.dispose();
  return c.result({ attentionValues: values });
}

async function analyze(model, inputs, batch, examples, threads) {
  const { analyzeModel } = out('app/analyze.js');
  const started = performance.now();
  const c = clock(started);
  // BENCH_ROWS: `analyze --rows R` (query rows sampled inside the model) instead of exact mode.
  const rows = process.env.BENCH_ROWS ? Number(process.env.BENCH_ROWS) : undefined;
  const options = { model, source: { kind: 'jsonl', path: inputs }, examples, batch, ep: 'cpu', threads, ...(rows ? { rows } : {}) };
  const result = await analyzeModel(options, { onProgress: (n) => c.batch(n) });
  return c.result({ threads, ...(rows ? { rows } : {}), analyzedExamples: result.run.examples, runSeconds: result.run.seconds });
}

/** `whatif` on a config: the original and the rewrite interleaved batch by batch (first batch warm-up). */
async function whatif(model, config, inputs, batch, examples) {
  const { whatIf } = out('app/whatif.js');
  const started = performance.now();
  // Each batch timed three times per model, the fastest counting: other processes only ever slow a run down.
  const r = await whatIf({ model, config, source: { kind: 'jsonl', path: inputs }, examples, batch, ep: 'cpu', repeat: 3 });
  return {
    mode,
    examples: r.examples,
    timedExamples: r.examples > batch ? r.examples - batch : r.examples,
    rate: 1000 / r.speed.rewritten,
    originalRate: 1000 / r.speed.original,
    speed: r.speed,
    rewrite: r.rewrite.layers.map((l) => l.method),
    parametersRemoved: r.rewrite.parametersRemoved,
    totalSeconds: (performance.now() - started) / 1000,
    maxRSS: process.resourceUsage().maxRSS * 1024,
    cpuSeconds: cpuSeconds(),
  };
}

let result;
if (mode === 'ort') result = await bareOrt(args[0], args[1], Number(args[2]), Number(args[3]));
else if (mode === 'extract') result = await extractOnly(args[0], args[1], Number(args[2]), Number(args[3]));
else if (mode === 'analyze')
  result = await analyze(args[0], args[1], Number(args[2]), Number(args[3]), Number(args[4] ?? availableParallelism()));
else if (mode === 'whatif') result = await whatif(args[0], args[1], args[2], Number(args[3]), Number(args[4]));
else if (mode === 'kernel') {
  const [L, H, tokens, examples] = args.map(Number);
  result = { mode, ...(await kernelFigures(L, H, tokens, examples)), peak: peakFigures(), cpuSeconds: cpuSeconds() };
} else {
  console.error(
    'usage: measure.mjs ort|extract|analyze MODEL INPUTS BATCH EXAMPLES [THREADS] | whatif MODEL CONFIG INPUTS BATCH EXAMPLES | kernel L H TOKENS EXAMPLES',
  );
  process.exit(2);
}
result.clockGHz = [clockBefore, clockProbe()].map((x) => +x.toFixed(2));
console.log(JSON.stringify(result));
