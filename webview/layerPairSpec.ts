/**
 * The layer-pair heatmap of a stack (paper Fig. 2) as a GridChart spec: the panel's
 * redundancy view and the notebook renderer draw the same cells, colours and readout. Also
 * the colour scale every similarity heatmap shares (similarityScale), so that the panel's
 * charts read alike: one 0–1 scale unless the user asks for each chart's own range.
 */
import { fixed } from './format';
import type { GridSpec } from './gridChart';
import { intervalText } from './stackData';
import type { StackData } from './stackData';

/** A head as the readouts write it: (layer,head). */
export const head = (l: number, hh: number) => `(${l},${hh})`;

/** How the similarity heatmaps colour their cells; the panel's toggles choose it. */
export interface SimilarityScale {
  /** `shared`: every chart on 0–1; `fitted`: each chart's own range, to the tenth. */
  range: 'shared' | 'fitted';
  /** `similarity`, or `aboveUniform`: the similarity minus its uniform baseline. */
  measure: 'similarity' | 'aboveUniform';
}

export const defaultScale: SimilarityScale = { range: 'shared', measure: 'similarity' };

/**
 * One cell of a similarity heatmap: its similarity and the heads' uniform baseline, the
 * lower of the two heads' similarity to uniform attention (below it, the two heads are no
 * more alike than attending to nothing in particular makes them).
 */
export interface SimilarityCell {
  similarity: number;
  baseline: number;
}

/** The number a cell is coloured by. */
export function shownValue(cell: SimilarityCell, scale: SimilarityScale): number {
  return scale.measure === 'aboveUniform' ? cell.similarity - cell.baseline : cell.similarity;
}

/**
 * The colour domain: 0–1 when shared; else the range of the values (cells drawn apart left
 * out) widened to tenths, inside 0–1 (cells below their baseline sit at the low end, marked).
 */
export function scaleDomain(values: number[], scale: SimilarityScale): [number, number] {
  if (scale.range === 'shared' || values.length === 0) return [0, 1];
  const lo = Math.max(0, Math.min(0.9, Math.floor(Math.min(...values) * 10 + 1e-9) / 10));
  const hi = Math.min(1, Math.max(lo + 0.1, Math.ceil(Math.max(...values) * 10 - 1e-9) / 10));
  return [lo, hi];
}

/** The parts of a GridSpec every similarity heatmap shares: value, domain, diagonal apart, baseline marks, text. */
export function similarityCells(
  rows: number,
  cols: number,
  cell: (r: number, c: number) => SimilarityCell,
  apart: (r: number, c: number) => boolean,
  scale: SimilarityScale,
): Pick<GridSpec, 'value' | 'domain' | 'apart' | 'belowBaseline' | 'text'> {
  const values: number[] = [];
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) if (!apart(r, c)) values.push(shownValue(cell(r, c), scale));
  return {
    domain: scaleDomain(values, scale),
    value: (r, c) => shownValue(cell(r, c), scale),
    apart,
    belowBaseline: (r, c) => !apart(r, c) && cell(r, c).similarity <= cell(r, c).baseline,
    text: (r, c) => (apart(r, c) ? '' : shownValue(cell(r, c), scale).toFixed(2)),
  };
}

/** What a readout adds about the baseline. */
export function baselineWords(cell: SimilarityCell): string {
  const above = cell.similarity - cell.baseline;
  return above > 0
    ? `${fixed(above)} above the uniform baseline ${fixed(cell.baseline)}`
    : `at or below the uniform baseline ${fixed(cell.baseline)}: no more alike than diffuse attention`;
}

/** A layer pair's cell: M[l][l′] and the baseline of the two heads that attain it. */
export function layerPairCell(s: StackData, l: number, l2: number): SimilarityCell {
  const b = s.bestPair(l, l2);
  return { similarity: s.layerPair(l, l2), baseline: Math.min(s.uniform(l, b.head), s.uniform(l2, b.match)) };
}

function describePair(s: StackData, l: number, l2: number): string {
  const v = s.layerPair(l, l2);
  if (l === l2) return `layer ${l} × layer ${l2}: ${fixed(v)} (a layer against itself, drawn apart from the colour scale)`;
  const b = s.bestPair(l, l2);
  const sinks = [s.isSink(l, b.head) ? head(l, b.head) : '', s.isSink(l2, b.match) ? head(l2, b.match) : ''].filter(Boolean);
  return (
    `layer ${l} × layer ${l2}: ${fixed(v)}${intervalText(s.layerPairInterval(l, l2))} — head ${head(l, b.head)} ↔ ${head(l2, b.match)}; ` +
    (sinks.length ? `sink ${sinks.join(' and ')}; ` : '') +
    `uniform ${fixed(s.uniform(l, b.head))} / ${fixed(s.uniform(l2, b.match))}; ` +
    `entropy ${fixed(s.entropy(l, b.head), 2)} / ${fixed(s.entropy(l2, b.match), 2)} nats; ${baselineWords(layerPairCell(s, l, l2))}`
  );
}

/** The layer-pair heatmap of a stack: the panel's, and the notebook renderer's (notebookRenderer.ts). */
export function layerPairSpec(stack: StackData, scale: SimilarityScale = defaultScale): GridSpec {
  return {
    rows: stack.L,
    cols: stack.L,
    rowLabel: String,
    colLabel: String,
    rowTitle: 'layer l',
    colTitle: 'layer l′',
    ...similarityCells(
      stack.L,
      stack.L,
      (l, l2) => layerPairCell(stack, l, l2),
      (l, l2) => l === l2,
      scale,
    ),
    describe: (l, l2) => describePair(stack, l, l2),
    flag: (l, l2) => {
      if (l === l2) return false;
      const b = stack.bestPair(l, l2);
      return stack.isSink(l, b.head) || stack.isSink(l2, b.match);
    },
  };
}
