// Test helper: a valid analysis file whose head-pair similarity is given (its sums are made to match).
import { analysisSchema, analysisStacks } from '../../analysis/result/analysisFile';
import type { AnalysisFile } from '../../analysis/result/analysisFile';
import type { ModelDims } from '../../analysis/onnx/dims';
import { SimilarityAccumulator } from '../../analysis/similarity/accumulator';

/** An analysis of one self-attention stack "encoder" over `examples` examples with these means. */
export function analysisWith(headPairs: number[][][][], uniform: number[][], dims: ModelDims, examples = 3): AnalysisFile {
  const L = headPairs.length;
  const H = headPairs[0].length;
  const n = L * H;
  const pairSums: number[] = [];
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) pairSums.push(headPairs[Math.floor(a / H)][a % H][Math.floor(b / H)][b % H] * examples);
  }
  const acc = SimilarityAccumulator.fromJSON({
    name: 'encoder',
    kind: 'self',
    layerCount: L,
    headCount: H,
    shards: { count: 1, indices: [0] },
    examples,
    tokens: examples * 10,
    pairSums,
    uniformSums: uniform.map((row) => row.map((u) => u * examples)),
    entropySums: uniform.map((row) => row.map(() => examples)),
  });
  return {
    schema: analysisSchema,
    model: { path: '/m.onnx', sha256: 'b'.repeat(64) },
    run: { examples, tokens: examples * 10, executionProvider: 'cpu', precision: 'float32', seconds: 1 },
    stacks: analysisStacks([acc], [{ name: 'encoder', kind: 'self', tensors: Array.from({ length: L }, (_, l) => `p${l}`), dims }]),
  };
}
