// Messages a host would send, built from a seeded pseudo-random model so that tests and
// screenshots are the same on every run. Typed arrays cannot cross page.evaluate, so
// they travel as {__typed, values} and the page turns them back (see page.mjs).
import { pseudoRandom } from '../helpers/random.mjs';

const typed = (kind, values) => ({ __typed: kind, values: Array.from(values) });
const tensor = (kind, shape, values) => ({ shape, data: typed(kind, values) });

/**
 * One stack with L layers and H heads. headPairs is symmetric with 1 on the diagonal and
 * falls off with layer distance; c, cArgmax, layerPairs and sequential follow their
 * definitions (mean-before-max is moot here: the fixture starts from the means).
 */
export function makeStack({ name = 'encoder', L = 6, H = 4, seed = 7 } = {}) {
  const rand = pseudoRandom(seed);
  const N = L * H;
  const pair = new Float64Array(N * N);
  for (let a = 0; a < N; a++) {
    pair[a * N + a] = 1;
    for (let b = a + 1; b < N; b++) {
      const la = Math.floor(a / H);
      const lb = Math.floor(b / H);
      const v = Math.min(0.99, Math.max(0.05, 0.85 - 0.09 * Math.abs(la - lb) + (rand() - 0.5) * 0.35));
      pair[a * N + b] = v;
      pair[b * N + a] = v;
    }
  }
  const headPairs = [];
  for (let l = 0; l < L; l++)
    for (let h = 0; h < H; h++)
      for (let l2 = 0; l2 < L; l2++) for (let h2 = 0; h2 < H; h2++) headPairs.push(pair[(l * H + h) * N + l2 * H + h2]);
  const c = [];
  const cArgmax = [];
  for (let l = 0; l < L; l++) {
    for (let h = 0; h < H; h++) {
      for (let l2 = 0; l2 < L; l2++) {
        let best = 0;
        for (let h2 = 1; h2 < H; h2++) if (pair[(l * H + h) * N + l2 * H + h2] > pair[(l * H + h) * N + l2 * H + best]) best = h2;
        c.push(pair[(l * H + h) * N + l2 * H + best]);
        cArgmax.push(best);
      }
    }
  }
  const cAt = (l, h, l2) => c[(l * H + h) * L + l2];
  const layerPairs = [];
  for (let l = 0; l < L; l++)
    for (let l2 = 0; l2 < L; l2++) layerPairs.push(Math.max(...Array.from({ length: H }, (_, h) => cAt(l, h, l2))));
  const seqHeads = [];
  const seqValues = [];
  for (let l = 1; l < L; l++) {
    const order = Array.from({ length: H }, (_, h) => h).sort((a, b) => cAt(l, a, l - 1) - cAt(l, b, l - 1) || a - b);
    for (const h of order) {
      seqHeads.push(h);
      seqValues.push(cAt(l, h, l - 1));
    }
  }
  const uniform = Array.from({ length: N }, () => 0.35 + rand() * 0.6);
  const entropy = Array.from({ length: N }, () => 0.5 + rand() * 2.5);
  return {
    plain: { L, H, headPairs, c, cArgmax, layerPairs, seqHeads, seqValues, uniform, entropy },
    payload: {
      name,
      kind: 'self',
      layerCount: L,
      headCount: H,
      dims: { hidden: 64, ffn: 256, vocab: 1000, maxPositions: 128 },
      headPairs: tensor('Float64Array', [L, H, L, H], headPairs),
      c: tensor('Float64Array', [L, H, L], c),
      cArgmax: tensor('Int32Array', [L, H, L], cArgmax),
      layerPairs: tensor('Float64Array', [L, L], layerPairs),
      sequentialHeads: tensor('Int32Array', [L - 1, H], seqHeads),
      sequentialValues: tensor('Float64Array', [L - 1, H], seqValues),
      uniform: tensor('Float64Array', [L, H], uniform),
      entropy: tensor('Float64Array', [L, H], entropy),
    },
  };
}

/** The analysis `id` says which one it is: another id makes the panel start its view state over. */
export function analysisMessage(
  stacks,
  canShowAttention = true,
  { id = 'sample-1', label = 'sample model — sentences.txt', fileName = 'sample-model-20261130-101500.analysis.json' } = {},
) {
  return {
    type: 'analysis',
    info: {
      label,
      model: { path: '/models/sample/model.onnx', sha256: 'ab'.repeat(32) },
      run: {
        examples: 40,
        tokens: 812,
        executionProvider: 'cpu',
        precision: 'float32',
        seconds: 3.4,
        inputs: '/models/sample/sentences.txt',
      },
      canShowAttention,
      id,
      file: { path: `/work/.attention-reuse/analyses/${fileName}`, name: fileName, savedAt: Date.UTC(2026, 10, 30, 10, 15) },
    },
    stacks: stacks.map((s) => s.payload),
  };
}

/** A row-stochastic map with a diagonal-ish pattern, `shift` moving the peak. */
export function attentionMatrix(q, k, shift, seed) {
  const rand = pseudoRandom(seed);
  const out = new Array(q * k);
  for (let i = 0; i < q; i++) {
    let sum = 0;
    for (let j = 0; j < k; j++) {
      const d = j - Math.min(k - 1, Math.max(0, i + shift));
      const v = Math.exp(-(d * d) / 2) + rand() * 0.15;
      out[i * k + j] = v;
      sum += v;
    }
    for (let j = 0; j < k; j++) out[i * k + j] /= sum;
  }
  return out;
}

export function attentionMapMessage(
  inReplyTo,
  { example = 0, layer = 1, head = 0, tokens, match = true, seed = 3, labels = 'text', matchLayer = layer - 1, matchPeak },
) {
  const n = tokens.length;
  // `matchPeak`: a best match whose largest value is this (its rows no longer sum to 1), to tell shared from own scales.
  const matchValues = attentionMatrix(n, n, 0, seed + 1);
  if (matchPeak !== undefined) {
    const top = Math.max(...matchValues);
    for (let i = 0; i < matchValues.length; i++) matchValues[i] *= matchPeak / top;
  }
  return {
    type: 'attentionMap',
    inReplyTo,
    example,
    stack: 'encoder',
    layer,
    head,
    queryTokens: tokens,
    keyTokens: tokens,
    queryLabels: labels,
    keyLabels: labels,
    map: tensor('Float32Array', [n, n], attentionMatrix(n, n, 1, seed)),
    match: match ? { layer: matchLayer, head: 2, similarity: 0.8125, map: tensor('Float32Array', [n, n], matchValues) } : null,
  };
}

/**
 * A ViT example: a 64×64 picture (a bright disc on a dark gradient) cut into 4×4 patches after
 * a class token, and a head whose class token looks mostly at the disc's patches (those of
 * rows 1-2, columns 1-2) while each patch looks at its right-hand neighbour.
 */
export function imageAttentionMessage(inReplyTo) {
  const [size, grid] = [64, 4];
  const rgb = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const disc = (x - 32) ** 2 + (y - 32) ** 2 < 14 ** 2;
      rgb.set(disc ? [240, 200, 60] : [20 + x, 40 + y, 90], (y * size + x) * 3);
    }
  }
  const tokens = ['[CLS]', ...Array.from({ length: grid * grid }, (_, i) => `(${Math.floor(i / grid)},${i % grid})`)];
  const n = tokens.length;
  const map = new Float32Array(n * n);
  const onDisc = (p) => [1, 2].includes(Math.floor(p / grid)) && [1, 2].includes(p % grid);
  for (let p = 0; p < grid * grid; p++) map[1 + p] = onDisc(p) ? 0.2 : 0.1 / 12;
  map[0] = 0.1;
  for (let q = 1; q < n; q++) {
    const right = q % grid === 0 ? q : q + 1;
    map[q * n] = 0.05;
    map[q * n + right] += 0.9;
    map[q * n + q] += 0.05;
  }
  return {
    ...attentionMapMessage(inReplyTo, { tokens, labels: 'patches' }),
    map: tensor('Float32Array', [n, n], map),
    match: { layer: 0, head: 2, similarity: 0.8125, map: tensor('Float32Array', [n, n], attentionMatrix(n, n, 0, 4)) },
    image: { width: size, height: size, rgb: typed('Uint8Array', rgb), rows: grid, cols: grid, offset: 1 },
  };
}

/** Candidates shaped like the planner's: two families over P and K, with a Pareto flag. */
export function planMessage(L, H) {
  const candidates = [];
  for (const mode of ['partial', 'full']) {
    for (let P = 1; P <= L - 2; P++) {
      for (let K = 1; K <= H; K++) {
        if (mode === 'full' && K !== H) continue;
        const heads = Array.from({ length: L }, (_, l) =>
          Array.from({ length: H }, (_, h) => (l >= 1 && l <= P && h >= H - K ? { reuse: { layer: l - 1, head: h - (H - K) } } : 'exact')),
        );
        const share = (P * K) / (L * H);
        candidates.push({
          mode,
          P,
          K,
          paramsRatio: 1 - share * 0.08,
          flopsRatio: 1 - share * 0.12,
          scoreMemoryRatio: 1 - share,
          similarityKept: 0.9 - share * 0.35 + (mode === 'full' ? -0.02 : 0),
          // Full reuse pairs diffuse heads here: its deeper candidates keep no more than their baseline.
          uniformBaseline: mode === 'full' ? 0.75 : 0.6,
          trainingMemoryRatio: 1 - share * 0.1,
          heads,
          pareto: false,
        });
      }
    }
  }
  for (const c of candidates) c.belowBaseline = c.similarityKept <= c.uniformBaseline;
  // Pareto: no other candidate is both cheaper and keeps more.
  for (const c of candidates) {
    c.pareto = !candidates.some(
      (o) =>
        o !== c &&
        o.flopsRatio <= c.flopsRatio &&
        o.similarityKept >= c.similarityKept &&
        (o.flopsRatio < c.flopsRatio || o.similarityKept > c.similarityKept),
    );
  }
  const recommended = candidates.findIndex((c) => c.mode === 'partial' && c.P === L - 2 && c.K === Math.max(1, H / 2));
  // The labels as analysis/planner/modes.ts words them; the host sends them with the plan.
  const modes = [
    { name: 'partial', label: 'Partial' },
    { name: 'full', label: 'Full' },
  ];
  return { type: 'planCandidates', stack: 'encoder', seqLen: 128, candidates, recommended, modes };
}

/** Metrics of steps from..from+count-1 (or the steps given), with a held-out evaluation every `evalEvery` steps. */
export function metricsMessage(run, from, count, reset = false, { steps, evalEvery = 0, offset = 0 } = {}) {
  const step = steps ?? Array.from({ length: count }, (_, i) => from + i);
  const col = (f) => typed('Float64Array', step.map(f));
  const evaluated = (s, v) => (evalEvery > 0 && s % evalEvery === 0 ? v : NaN);
  return {
    type: 'metrics',
    run,
    reset,
    points: {
      step: typed('Float64Array', step),
      loss: col((s) => 7 * Math.exp(-s / 60) + 1.2 + 0.05 * Math.sin(s) + offset),
      lr: col(() => 1e-4),
      tokensPerSecond: col((s) => 5000 + s),
      elapsedSeconds: col((s) => s * 0.5),
      evalLoss: col((s) => evaluated(s, 7 * Math.exp(-s / 60) + 1.5 + offset)),
      evalAccuracy: col((s) => evaluated(s, 0.1 + s / 1000)),
      evalPerplexity: col((s) => evaluated(s, Math.exp(7 * Math.exp(-s / 60) + 1.5 + offset))),
    },
  };
}

/** A training run's state as the host sends it. */
export function trainingRunMessage(run, state, more = {}) {
  return {
    type: 'trainingRun',
    status: {
      run,
      state,
      step: null,
      steps: 200,
      checkpointStep: null,
      exitCode: null,
      message: `Training ${state}.`,
      logTail: [],
      canResume: false,
      at: 1_764_500_000_000,
      ...more,
    },
  };
}
