// Protects the head counts read from an ONNX graph (analysis/onnx/heads.ts), on graphs built in memory: a fixed axis 1 of the attention tensor, the Reshape + Transpose that splits the queries (its target as an initializer, a Constant or a Concat of pieces, read from the end), the walk back and its budget, one head for unsplit MatMul queries, and grouped-query key heads from a key split or a past cache.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { dataflow } from '../../analysis/onnx/dataflow';
import { keyHeads, queryHeads } from '../../analysis/onnx/heads';
import { decodeModel } from '../../analysis/onnx/model';
import type { OnnxGraph } from '../../analysis/onnx/model';
import { float, info, int64, modelBytes, node } from '../../scripts/fixtures/onnxGraph.mjs';

type Node = ReturnType<typeof node>;
type Extra = { initializer?: unknown[]; input?: unknown[]; valueInfo?: unknown[] };

const inputs = [info('x', ['batch', 'sequence', 4]), info('y', ['batch', 'sequence', 4])];
/** Shape vectors and their pieces: [0, 0, 3, 2] splits 3 heads, [0, 0, 2, 2] two. */
const shapes = [int64('heads3', [0, 0, 3, 2]), int64('heads2', [0, 0, 2, 2]), int64('heads4', [0, 0, 4, 1])];
const pieces = [int64('zero', [0]), int64('three', [3]), int64('two', [2]), int64('axis0', [0]), int64('end2', [2])];

/** The decoded graph of `nodes` over x and y [batch, sequence, 4] (or `extra.input`), with weight W, scale c and the shapes above. */
function graphOf(nodes: Node[], extra: Extra = {}): OnnxGraph {
  const graph = {
    node: nodes,
    initializer: [float('W', [4, 4], new Array(16).fill(0.5)), float('c', [], [2]), ...shapes, ...pieces, ...(extra.initializer ?? [])],
    input: extra.input ?? inputs,
    output: [info('out', ['batch', 'sequence', 4])],
    valueInfo: extra.valueInfo ?? [],
  };
  return decodeModel(modelBytes('h', graph, 'test'), 'h.onnx');
}

/** Query heads of the product `q`·x (a MatMul unless `qk` says) whose probabilities are `p`. */
function qHeads(nodes: Node[], extra: Extra = {}, { q = 'q', qk = 'MatMul' } = {}): number | null {
  const g = graphOf([...nodes, node(qk, [q, 'x'], ['s'])], extra);
  return queryHeads(g, dataflow(g), 'p', g.producer.get('s')!);
}

/** Key heads of the product x·`k` where the queries have `heads` heads. */
function kHeads(nodes: Node[], heads: number | null, extra: Extra = {}): number | null {
  const g = graphOf([...nodes, node('MatMul', ['x', 'k'], ['s'])], extra);
  return keyHeads(g, dataflow(g), g.producer.get('s')!, heads);
}

/** Reshape `from` to `shape`, then Transpose it with `perm` into `to`. */
const split = (shape: string, { from = 'x', to = 'q', perm = [0, 2, 1, 3] } = {}) => [
  node('Reshape', [from, shape], [`${to}_4`]),
  node('Transpose', [`${to}_4`], [to], { perm }),
];

/** `n` ops of type `op` one after another from `from`; the last writes `to`. */
const run = (op: string, n: number, from: string, to: string) =>
  Array.from({ length: n }, (_, i) => node(op, [i === 0 ? from : `${to}.${i - 1}`], [i === n - 1 ? to : `${to}.${i}`]));

/** A Constant node holding `values` (int64). */
const constant = (out: string, values: number[]) => ({
  ...node('Constant', [], [out]),
  attribute: [{ name: 'value', type: 4, t: int64(out, values) }],
});

describe('query heads', () => {
  it('from a fixed axis 1 of the attention tensor, before any Reshape', () => {
    assert.equal(qHeads(split('heads3'), { valueInfo: [info('p', ['batch', 6, 'sequence', 'sequence'])] }), 6, 'a fixed axis 1');
    assert.equal(qHeads(split('heads3'), { valueInfo: [info('p', ['batch', 'heads', 'sequence', 'sequence'])] }), 3, 'a symbolic axis 1');
    assert.equal(qHeads(split('heads3'), { valueInfo: [info('p', ['batch', 6, 6])] }), 3, 'axis 1 of a rank-3 tensor');
  });

  it('from a Reshape to [batch, n, heads, d] that a Transpose with perm 0,2,1,3 or 0,2,3,1 reads', () => {
    assert.equal(qHeads(split('heads3')), 3, 'perm 0,2,1,3');
    assert.equal(qHeads(split('heads3', { perm: [0, 2, 3, 1] })), 3, 'perm 0,2,3,1 (keys transposed for the product)');
    for (const perm of [
      [0, 1, 2, 3],
      [0, 3, 1, 2],
      [2, 0, 1, 3],
    ])
      assert.equal(qHeads(split('heads3', { perm })), null, `perm ${perm.join()}`);
    const [reshape] = split('heads3');
    assert.equal(qHeads([reshape, node('Transpose', ['q_4'], ['q'])]), null, 'a Transpose without perm (reverses the axes)');
    assert.equal(qHeads([...split('heads3'), node('Shape', ['q_4'], ['q_shape'])]), 3, 'the Reshape has another user beside the Transpose');
    assert.equal(
      qHeads([reshape, node('Identity', ['q_4'], ['q_i']), node('Transpose', ['q_i'], ['q'], { perm: [0, 2, 1, 3] })]),
      null,
      'the Transpose reads the Reshape through an Identity: the Reshape has other users only',
    );
    assert.equal(qHeads([reshape, node('Relu', ['q_4'], ['q'])]), null, 'a Reshape with no Transpose after it');
    const permute = { ...node('Permute', ['q_4'], ['q'], { perm: [0, 2, 1, 3] }), domain: 'com.example' };
    assert.equal(qHeads([reshape, permute]), null, 'an op other than Transpose with a perm attribute');
  });

  it("the Reshape's target: an initializer, a Constant node, or through Cast, Identity, Unsqueeze and Squeeze", () => {
    assert.equal(qHeads(split('heads3')), 3, 'an initializer');
    assert.equal(qHeads([constant('shapeC', [0, 0, 3, 2]), ...split('shapeC')]), 3, 'a Constant node');
    for (const op of ['Cast', 'Identity', 'Unsqueeze', 'Squeeze'])
      assert.equal(qHeads([node(op, ['heads3'], ['via']), ...split('via')]), 3, `through ${op}`);
    assert.equal(qHeads([node('Relu', ['heads3'], ['via']), ...split('via')]), null, 'through an op that shapes do not pass');
    assert.equal(qHeads(split('heads3'), { initializer: [int64('heads3', [0, 0, 0, 2])] }), null, 'a zero heads entry');
    assert.equal(qHeads(split('heads3'), { initializer: [int64('heads3', [0, 0, -1, 2])] }), null, 'a -1 heads entry');
    assert.equal(qHeads(split('x')), null, 'a target that is an activation, not a shape');
  });

  it('the shape through at most nine Identity or nested Concat ops (shapePieces stops deeper than 8)', () => {
    for (const op of ['Identity', 'Concat']) {
      assert.equal(qHeads([...run(op, 9, 'heads3', 'deep'), ...split('deep')]), 3, `nine ${op} ops`);
      assert.equal(qHeads([...run(op, 10, 'heads3', 'deep'), ...split('deep')]), null, `ten ${op} ops`);
    }
  });

  it('a Concat of pieces, the heads read second from the end', () => {
    const int32 = { name: 'minus1', dataType: 6, dims: [1], int32Data: [-1] };
    const concat = [
      node('Shape', ['x'], ['xs']),
      node('Gather', ['xs', 'zero'], ['batch']),
      node('Cast', ['minus1'], ['n']),
      node('Unsqueeze', ['three', 'axis0'], ['h3']),
      node('Identity', ['h3'], ['heads']),
      node('Squeeze', ['two'], ['d']),
      node('Concat', ['batch', 'n', 'heads', 'd'], ['shape4'], { axis: 0 }),
    ];
    assert.equal(
      qHeads([...concat, ...split('shape4')], { initializer: [int32] }),
      3,
      'Gather of a Shape, Cast, Unsqueeze, Identity, Squeeze',
    );
    const concatOf = (...parts: string[]) => node('Concat', parts, ['shape4'], { axis: 0 });
    const sliced = [node('Shape', ['x'], ['xs']), node('Slice', ['xs', 'zero', 'end2'], ['lead'])];
    assert.equal(
      qHeads([...sliced, concatOf('lead', 'three', 'two'), ...split('shape4')]),
      3,
      'a leading slice of a shape, of unknown length: read from the end',
    );
    assert.equal(qHeads([...sliced, concatOf('three', 'lead', 'two'), ...split('shape4')]), null, 'a slice as the heads entry');
    const gathered = [node('Shape', ['x'], ['xs']), node('Gather', ['xs', 'end2'], ['width'])];
    assert.equal(qHeads([...gathered, concatOf('zero', 'zero', 'three', 'width'), ...split('shape4')]), 3, 'a Gather is one entry');
    assert.equal(qHeads([...gathered, concatOf('zero', 'zero', 'width', 'two'), ...split('shape4')]), null, 'a dynamic heads entry');
    const divided = [...gathered, node('Div', ['width', 'three'], ['d']), node('Unsqueeze', ['d', 'axis0'], ['du'])];
    assert.equal(
      qHeads([...divided, concatOf('zero', 'zero', 'three', 'du'), ...split('shape4')]),
      3,
      'an Unsqueeze of a computed size is one entry',
    );
    const fed = { input: [...inputs, info('size', [1], 7)] };
    assert.equal(
      qHeads([concatOf('zero', 'zero', 'three', 'size'), ...split('shape4')], fed),
      3,
      'a piece of unknown length after the heads',
    );
    assert.equal(
      qHeads([concatOf('zero', 'zero', 'size', 'two'), ...split('shape4')], fed),
      null,
      'a piece of unknown length as the heads entry',
    );
  });

  it('shape ops without an input list (as code builds nodes): a Cast of nothing is one dynamic entry, a Concat of nothing none', () => {
    const heads = (op: string, last: string[]) => {
      const concat = node('Concat', ['zero', 'zero', 'three', ...last, 'none'], ['shape4'], { axis: 0 });
      const g = graphOf([node(op, ['two'], ['none']), concat, ...split('shape4'), node('MatMul', ['q', 'x'], ['s'])]);
      g.producer.get('none')!.input = undefined;
      return queryHeads(g, dataflow(g), 'p', g.producer.get('s')!);
    };
    assert.equal(heads('Cast', []), 3, 'a Cast of nothing as the last entry');
    assert.equal(heads('Concat', ['two']), 3, 'a Concat of nothing after the last entry');
  });

  it('walking back through other ops to the Reshape, at most 48 tensors that are not constants or shapes', () => {
    assert.equal(qHeads([...split('heads3', { to: 'q0' }), ...run('Identity', 46, 'q0', 'q')]), 3, '46 ops after the split');
    assert.equal(qHeads([...split('heads3', { to: 'q0' }), ...run('Identity', 47, 'q0', 'q')]), null, '47 ops after the split');
    const scaled = Array.from({ length: 40 }, (_, i) => node('Mul', [i === 0 ? 'q0' : `m${i - 1}`, `c${i}`], [i === 39 ? 'q' : `m${i}`]));
    const scales = scaled.map((_, i) => float(`c${i}`, [], [2]));
    assert.equal(qHeads([...split('heads3', { to: 'q0' }), ...scaled], { initializer: scales }), 3, '40 scales: constants do not count');
    const clip = node('Clip', ['q45', '', 'c'], ['q']);
    assert.equal(
      qHeads([...split('heads3', { to: 'q0' }), ...run('Identity', 45, 'q0', 'q45'), clip]),
      3,
      "46 ops, one with an omitted input (''): the omitted input does not count",
    );
    const shaped = [node('Shape', ['x'], ['xs']), node('Cast', ['xs'], ['xs2']), node('Add', ['q45', 'xs2'], ['q'])];
    assert.equal(qHeads([...split('heads3', { to: 'q0' }), ...run('Identity', 45, 'q0', 'q45'), ...shaped]), 3, 'shapes do not count');
  });

  it('one head for a MatMul query-key product whose queries reach their projection of a [batch, seq, hidden] input unsplit', () => {
    const projected = [node('MatMul', ['x', 'W'], ['q'])];
    assert.equal(qHeads(projected), 1, 'a MatMul projection');
    assert.equal(qHeads(projected, {}, { qk: 'Einsum' }), null, 'an Einsum product may split the heads with its equation');
    assert.equal(qHeads([node('Gemm', ['x', 'W'], ['q'])]), 1, 'a Gemm projection');
    assert.equal(qHeads([node('MatMul', ['W', 'x'], ['q'])]), 1, 'the weight first');
    assert.equal(qHeads([node('MatMul', ['x', 'W'], ['q0']), node('Mul', ['q0', 'c'], ['q'])]), 1, 'through a scale');
    assert.equal(qHeads(projected, { input: [info('x', ['batch', 2, 'sequence', 4])] }), null, 'a projection of a rank-4 input');
    assert.equal(qHeads(projected, { input: [info('x', ['batch', 4])] }), null, 'a projection of a rank-2 input');
    const first = { input: [info('mask', ['batch', 'sequence']), ...inputs] };
    assert.equal(
      qHeads([node('Relu', ['x'], ['h']), node('MatMul', ['h', 'W'], ['q'])], first),
      1,
      'a projection of a hidden state, whatever the first graph input',
    );
    assert.equal(qHeads([node('MatMul', ['x', 'y'], ['q'])]), null, 'a product of two activations is no projection');
    assert.equal(qHeads([node('Transpose', ['x'], ['q'], { perm: [0, 2, 1] })]), null, 'queries that never meet a projection');
    assert.equal(qHeads([], {}, { q: 'x' }), null, 'a graph input as the queries');
  });

  it('no head count where the walk met a Reshape or Einsum that says nothing, or did not end', () => {
    assert.equal(qHeads([node('MatMul', ['x', 'W'], ['h']), node('Reshape', ['h', 'heads3'], ['q'])]), null, 'a Reshape with no Transpose');
    assert.equal(qHeads([node('Einsum', ['x', 'W'], ['q'])]), null, 'an Einsum projection');
    const einsumInts = [node('Einsum', ['x', 'heads3'], ['e']), node('Transpose', ['e'], ['q'], { perm: [0, 2, 1, 3] })];
    assert.equal(qHeads(einsumInts), null, 'an Einsum is no Reshape: its operand is not a target shape');
    const far = [node('MatMul', ['x', 'W'], ['a']), ...run('Identity', 60, 'x', 'b'), node('Add', ['a', 'b'], ['q'])];
    assert.equal(qHeads(far), null, 'a projection on one path, another path longer than the budget');
  });

  it('the split before a projection belongs to the previous layer', () => {
    const before = (op: string) => qHeads([...split('heads3', { to: 'h' }), node(op, ['h', 'W'], ['q'])]);
    assert.equal(before('MatMul'), 1, 'MatMul');
    assert.equal(before('Gemm'), 1, 'Gemm');
    assert.equal(before('Einsum'), null, 'Einsum (it may split heads itself)');
  });

  it('no queries: a product without inputs, or an empty name (omitted outputs are named too)', () => {
    const g = graphOf([node('Identity', ['x'], ['i'])]);
    const bare = { opType: 'MatMul', output: ['s'] };
    assert.equal(queryHeads(g, dataflow(g), 'p', bare), null, 'a product without an input list');
    assert.equal(keyHeads(g, dataflow(g), bare, 4), null, 'a product without an input list (keys)');
    // LayerNormalization's optional outputs, omitted, are named '': they produce the tensor ''.
    const unnamed = [
      ...split('heads2', { to: 'h' }),
      node('LayerNormalization', ['h', 'c', 'c'], ['ln', '', '']),
      node('MatMul', ['', ''], ['s']),
    ];
    const h = graphOf(unnamed);
    assert.equal(queryHeads(h, dataflow(h), 'p', h.producer.get('s')!), null, "queries named ''");
    assert.equal(keyHeads(h, dataflow(h), h.producer.get('s')!, 4), null, "keys named ''");
  });
});

describe('key heads (grouped-query attention)', () => {
  const keys = (shape: string) => split(shape, { to: 'k', perm: [0, 2, 3, 1] });
  it('the key split where it has fewer heads than the queries, dividing them', () => {
    assert.equal(kHeads(keys('heads2'), 4), 2, '2 key heads, 4 query heads');
    assert.equal(kHeads(keys('heads2'), 2), null, 'as many key heads as query heads');
    assert.equal(kHeads(keys('heads2'), 1), null, 'more key heads than query heads');
    assert.equal(kHeads(keys('heads2'), 3), null, '3 query heads do not divide into 2 groups');
    assert.equal(kHeads(keys('heads4'), 6), null, '6 query heads do not divide into 4 groups');
    assert.equal(kHeads(keys('heads2'), null), null, 'query heads unknown');
    assert.equal(kHeads([node('MatMul', ['x', 'W'], ['k'])], 4), null, 'unsplit keys');
  });

  const past = (dims: (number | string)[]) => ({ input: [...inputs, info('past', dims)] });
  it('else the heads axis of a past-cache input [batch, kvHeads, past, d] the keys come from', () => {
    assert.equal(kHeads([node('Identity', ['past'], ['k'])], 4, past(['batch', 2, 'past', 2])), 2, 'the keys are the past cache');
    assert.equal(kHeads([node('Identity', ['past'], ['k'])], 2, past(['batch', 2, 'past', 2])), null, 'as many heads as the queries');
    assert.equal(kHeads([node('Identity', ['past'], ['k'])], 4, past(['batch', 'heads', 'past', 2])), null, 'a symbolic heads axis');
    assert.equal(kHeads([node('Identity', ['past'], ['k'])], 4, past(['batch', '2', 'past', 2])), null, "a symbolic heads axis named '2'");
    assert.equal(kHeads([node('Identity', ['past'], ['k'])], 4, past(['batch', 2, 'past'])), null, 'a rank-3 past');
    assert.equal(kHeads([node('Identity', ['past'], ['k'])], 4, { input: [...inputs, { name: 'past' }] }), null, 'a past without a shape');
    const appended = [node('MatMul', ['x', 'W'], ['new']), node('Concat', ['past', 'new'], ['k'], { axis: 2 })];
    assert.equal(kHeads(appended, 4, past(['batch', 2, 'past', 2])), 2, 'past keys and unsplit new keys: the past is the one of rank 4');
    const shapeless = { input: [...inputs, info('past', ['batch', 2, 'past', 2]), { name: 'more' }] };
    assert.equal(
      kHeads([node('Concat', ['past', 'more'], ['k'], { axis: 2 })], 4, shapeless),
      2,
      'another source without a declared shape is passed over',
    );
    const splitNew = [...split('heads2', { to: 'new', perm: [0, 2, 3, 1] }), node('Concat', ['past', 'new'], ['k'], { axis: 2 })];
    assert.equal(kHeads(splitNew, 4, past(['batch', 8, 'past', 2])), 2, 'the split of the new keys wins over the past');
  });
});
