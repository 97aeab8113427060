/**
 * How far a rewritten model's outputs move from the original's, over real tokens: per output
 * the largest absolute difference and the mean cosine; for the output with a vocabulary or
 * class axis, KL(softmax(original) ‖ softmax(rewritten)) in nats and top-1 agreement, summed
 * over every real token (special tokens included) and divided by their number. float64
 * throughout; nothing of a batch is kept after it is folded in.
 */
import type * as ort from 'onnxruntime-node';
import { toFloat32 } from './halfFloat';
import type { ModelBatch } from './modelSession';

export interface OutputDrift {
  name: string;
  maxAbs: number;
  /** Mean over real tokens (or examples, for an output without a token axis) of the cosine of the two vectors. */
  cosine: number;
}

export interface DriftResult {
  outputs: OutputDrift[];
  /** Mean KL(original ‖ rewritten) in nats per real token of `klOutput`; null without such an output. */
  kl: number | null;
  /** Fraction of real tokens whose arg-max agrees. */
  top1: number | null;
  klOutput: string | null;
  /** Real tokens (or examples) the KL and top-1 are over. */
  positions: number;
}

type Tensor = ort.Tensor;

/** A float output's values as float32, or undefined for other types. */
export function floatData(t: Tensor): Float32Array | undefined {
  if (t.type === 'float32' || t.type === 'float16') return toFloat32(t.data as Float32Array | Uint16Array, t.type);
  if (t.type === 'float64') return Float32Array.from(t.data as Float64Array);
  return undefined;
}

/**
 * The vectors of an output that belong to real tokens: for [batch, length, …] one per real
 * position (the trailing axes flattened), otherwise one per example.
 */
export function realVectors(t: Tensor, batch: ModelBatch): { offsets: number[]; width: number } {
  const dims = t.dims.map(Number);
  const B = batch.examples.length;
  if (dims.length >= 3 && dims[0] === B && dims[1] === batch.length) {
    const width = dims.slice(2).reduce((a, b) => a * b, 1);
    const offsets = batch.real.flatMap((positions, b) => positions.map((p) => (b * batch.length + p) * width));
    return { offsets, width };
  }
  const width = dims.slice(1).reduce((a, b) => a * b, 1);
  return { offsets: Array.from({ length: B }, (_, b) => b * width), width };
}

function logSoftmax(x: Float32Array, at: number, width: number, out: Float64Array): void {
  let max = -Infinity;
  for (let i = 0; i < width; i++) if (x[at + i] > max) max = x[at + i];
  let sum = 0;
  for (let i = 0; i < width; i++) sum += Math.exp(x[at + i] - max);
  const lse = max + Math.log(sum);
  for (let i = 0; i < width; i++) out[i] = x[at + i] - lse;
}

export function argMax(x: Float32Array, at: number, width: number): number {
  let best = 0;
  for (let i = 1; i < width; i++) if (x[at + i] > x[at + best]) best = i;
  return best;
}

export class DriftAccumulator {
  private readonly stats = new Map<string, { maxAbs: number; cosine: number; count: number }>();
  private klSum = 0;
  private agree = 0;
  private positions = 0;

  /** `klOutput`: the output with a vocabulary or class last axis, or null. */
  constructor(
    private readonly names: readonly string[],
    private readonly klOutput: string | null,
  ) {
    for (const n of names) this.stats.set(n, { maxAbs: 0, cosine: 0, count: 0 });
  }

  add(original: ort.InferenceSession.ReturnType, rewritten: ort.InferenceSession.ReturnType, batch: ModelBatch): void {
    for (const name of this.names) {
      const a = floatData(original[name]);
      const b = floatData(rewritten[name]);
      if (!a || !b) continue;
      const s = this.stats.get(name)!;
      const { offsets, width } = realVectors(original[name], batch);
      for (const at of offsets) {
        let dot = 0;
        let na = 0;
        let nb = 0;
        for (let i = at; i < at + width; i++) {
          const d = Math.abs(a[i] - b[i]);
          if (d > s.maxAbs || Number.isNaN(d)) s.maxAbs = d;
          dot += a[i] * b[i];
          na += a[i] * a[i];
          nb += b[i] * b[i];
        }
        s.cosine += na === 0 && nb === 0 ? 1 : dot / Math.sqrt(na * nb);
        s.count++;
      }
      if (name === this.klOutput) this.addKl(a, b, offsets, width);
    }
  }

  private addKl(a: Float32Array, b: Float32Array, offsets: number[], width: number): void {
    const p = new Float64Array(width);
    const q = new Float64Array(width);
    for (const at of offsets) {
      logSoftmax(a, at, width, p);
      logSoftmax(b, at, width, q);
      let kl = 0;
      for (let i = 0; i < width; i++) kl += Math.exp(p[i]) * (p[i] - q[i]);
      this.klSum += kl;
      if (argMax(a, at, width) === argMax(b, at, width)) this.agree++;
      this.positions++;
    }
  }

  result(): DriftResult {
    const outputs = this.names.map((name) => {
      const s = this.stats.get(name)!;
      return { name, maxAbs: s.maxAbs, cosine: s.count > 0 ? s.cosine / s.count : 1 };
    });
    const has = this.klOutput !== null && this.positions > 0;
    return {
      outputs,
      kl: has ? this.klSum / this.positions : null,
      top1: has ? this.agree / this.positions : null,
      klOutput: this.klOutput,
      positions: this.positions,
    };
  }
}
