/** What decides each If that holds attention: a graph input (a merged decoder's `use_cache_branch`), or a computed value. */
import type { AttentionStack } from './attentionFinder';
import type { OnnxGraph } from './model';

/** An If whose branches hold attention, and the graph input that decides it where one does. */
export interface IfCondition {
  node: string;
  condition: string;
  /** The graph input the condition is, seen through Identity, Cast, Squeeze, Unsqueeze, Reshape and Not. */
  input?: string;
  /** Whether a Not stands between the input and the condition. */
  negated: boolean;
}

const passThrough = new Set(['Identity', 'Cast', 'Squeeze', 'Unsqueeze', 'Reshape', 'Flatten']);

/** The Ifs the stacks' layers sit in, outermost first, each with what decides it. */
export function conditionInputs(g: OnnxGraph, stacks: AttentionStack[]): IfCondition[] {
  const seen = new Map<string, string>();
  for (const s of stacks) for (const l of s.layers) for (const step of l.branch ?? []) seen.set(step.node, step.condition);
  return [...seen].map(([node, condition]) => {
    let cur = condition;
    let negated = false;
    for (let i = 0; i < 16; i++) {
      if (g.inputNames.includes(cur)) return { node, condition, input: cur, negated };
      const producer = g.producer.get(cur);
      if (producer?.opType === 'Not') negated = !negated;
      else if (!producer || !passThrough.has(producer.opType ?? '')) break;
      cur = producer.input?.[0] ?? '';
    }
    return { node, condition, negated };
  });
}
