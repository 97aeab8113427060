/**
 * Read access to one stack of an analysis as the host sent it (flat typed arrays). This
 * looks values up; it computes no similarity (that is analysis/'s job).
 */
import type { StackPayload } from '../protocol/messages';

export class StackData {
  readonly L: number; // the paper's L (layers)
  readonly H: number; // the paper's H (heads per layer)

  constructor(readonly payload: StackPayload) {
    this.L = payload.layerCount;
    this.H = payload.headCount;
  }

  get name(): string {
    return this.payload.name;
  }

  /** "causal self, 2 key/value heads": what the stack picker says of it. */
  get description(): string {
    const { causal, kind, kvHeadCount } = this.payload;
    return `${causal ? 'causal ' : ''}${kind}${kvHeadCount ? `, ${kvHeadCount} key/value heads` : ''}`;
  }

  /** Row entropy over ln(keys the row sees), where the analysis has it. */
  entropyNormalized(l: number, h: number): number | undefined {
    return this.payload.entropyNormalized?.data[l * this.H + h];
  }

  /** headPairs[l][h][l2][h2] */
  headPair(l: number, h: number, l2: number, h2: number): number {
    const { L, H } = this;
    return this.payload.headPairs.data[((l * H + h) * L + l2) * H + h2];
  }

  /** c[(l,h), l2]: best similarity of head (l,h) to any head of layer l2. */
  c(l: number, h: number, l2: number): number {
    return this.payload.c.data[(l * this.H + h) * this.L + l2];
  }

  /** The head of layer l2 that attains c[(l,h), l2]. */
  cArgmax(l: number, h: number, l2: number): number {
    return this.payload.cArgmax.data[(l * this.H + h) * this.L + l2];
  }

  layerPair(l: number, l2: number): number {
    return this.payload.layerPairs.data[l * this.L + l2];
  }

  /** The head h of layer l whose c[(l,h), l2] is the layer-pair value, and its match h2 (ties: lowest h). */
  bestPair(l: number, l2: number): { head: number; match: number; value: number } {
    let head = 0;
    for (let h = 1; h < this.H; h++) if (this.c(l, h, l2) > this.c(l, head, l2)) head = h;
    return { head, match: this.cArgmax(l, head, l2), value: this.c(l, head, l2) };
  }

  uniform(l: number, h: number): number {
    return this.payload.uniform.data[l * this.H + h];
  }

  entropy(l: number, h: number): number {
    return this.payload.entropy.data[l * this.H + h];
  }

  /** Layer l ≥ 1, rank 0 = least like layer l-1. */
  sequential(l: number, rank: number): { head: number; value: number } {
    const i = (l - 1) * this.H + rank;
    return { head: this.payload.sequentialHeads.data[i], value: this.payload.sequentialValues.data[i] };
  }

  /**
   * Whether two heads are no more alike than each is to uniform attention: their
   * similarity then says "both attend to nothing in particular", not "same pattern".
   */
  diffusePair(l: number, h: number, l2: number, h2: number, similarity: number): boolean {
    return Math.min(this.uniform(l, h), this.uniform(l2, h2)) >= similarity;
  }

  /** The 95% interval of layerPairs[l][l2], where the analysis has error bars. */
  layerPairInterval(l: number, l2: number): [number, number] | undefined {
    const i = this.payload.intervals?.layerPairs;
    return i && [i.low.data[l * this.L + l2], i.high.data[l * this.L + l2]];
  }

  /** The 95% interval of c[(l,h), l2]. */
  cInterval(l: number, h: number, l2: number): [number, number] | undefined {
    const i = this.payload.intervals?.c;
    const at = (l * this.H + h) * this.L + l2;
    return i && [i.low.data[at], i.high.data[at]];
  }

  /** The 95% interval of headPairs[l][h][l2][h2]. */
  headPairInterval(l: number, h: number, l2: number, h2: number): [number, number] | undefined {
    const i = this.payload.intervals?.headPairs;
    const at = ((l * this.H + h) * this.L + l2) * this.H + h2;
    return i && [i.low.data[at], i.high.data[at]];
  }

  /** Mean attention mass of head (l,h) on the first or special tokens, where the analysis has it. */
  sinkMass(l: number, h: number): number | undefined {
    return this.payload.sinks?.mass.data[l * this.H + h];
  }

  /** Whether head (l,h) is flagged "sink" (its mass at or over the analysis's threshold). */
  isSink(l: number, h: number): boolean {
    const s = this.payload.sinks;
    return s !== undefined && s.mass.data[l * this.H + h] >= s.threshold;
  }

  /** What the sink mass counts, for tooltips. */
  get sinkWhat(): string {
    return this.payload.sinks?.specialTokens ? 'the first token and special tokens' : 'the first token';
  }
}

/** " (95% 0.412–0.455)" for a readout, or nothing without an interval. */
export function intervalText(i: [number, number] | undefined): string {
  return i ? ` (95% ${i[0].toFixed(3)}–${i[1].toFixed(3)})` : '';
}
