/**
 * The layer-pair heatmap of a stack (paper Fig. 2) as a GridChart spec: the panel's
 * redundancy view and the notebook renderer draw the same cells, colours and readout.
 */
import { fixed } from './format';
import type { GridSpec } from './gridChart';
import { intervalText, similarityDomain } from './stackData';
import type { StackData } from './stackData';

/** A head as the readouts write it: (layer,head). */
export const head = (l: number, hh: number) => `(${l},${hh})`;

function describePair(s: StackData, l: number, l2: number): string {
  const v = s.layerPair(l, l2);
  if (l === l2) return `layer ${l} × layer ${l2}: ${fixed(v)} (a layer against itself)`;
  const b = s.bestPair(l, l2);
  const sinks = [s.isSink(l, b.head) ? head(l, b.head) : '', s.isSink(l2, b.match) ? head(l2, b.match) : ''].filter(Boolean);
  return (
    `layer ${l} × layer ${l2}: ${fixed(v)}${intervalText(s.layerPairInterval(l, l2))} — head ${head(l, b.head)} ↔ ${head(l2, b.match)}; ` +
    (sinks.length ? `sink ${sinks.join(' and ')}; ` : '') +
    `uniform ${fixed(s.uniform(l, b.head))} / ${fixed(s.uniform(l2, b.match))}; ` +
    `entropy ${fixed(s.entropy(l, b.head), 2)} / ${fixed(s.entropy(l2, b.match), 2)} nats`
  );
}

/** The layer-pair heatmap of a stack: the panel's, and the notebook renderer's (notebookRenderer.ts). */
export function layerPairSpec(stack: StackData): GridSpec {
  return {
    rows: stack.L,
    cols: stack.L,
    rowLabel: String,
    colLabel: String,
    rowTitle: 'layer l',
    colTitle: 'layer l′',
    domain: similarityDomain(stack.payload.layerPairs.data),
    value: (l, l2) => stack.layerPair(l, l2),
    text: (l, l2) => stack.layerPair(l, l2).toFixed(2),
    describe: (l, l2) => describePair(stack, l, l2),
    flag: (l, l2) => {
      if (l === l2) return false;
      const b = stack.bestPair(l, l2);
      return stack.isSink(l, b.head) || stack.isSink(l2, b.match);
    },
  };
}
