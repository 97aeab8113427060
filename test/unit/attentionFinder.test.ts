// Protects the attention finder's rules one at a time, on graphs built in memory (shapes are not checked there, only the topology): which ops may stand between the query-key product, the Softmax and the value product and how far, which operands must be activations, fused ops refused by name, heads read from shapes, and attention read from graph outputs.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { InputError } from '../../analysis/errors';
import { findAttention } from '../../analysis/onnx/attentionFinder';
import { decodeModel } from '../../analysis/onnx/model';
import { float, info, int64, modelBytes, node } from '../../scripts/fixtures/onnxGraph.mjs';

type Node = ReturnType<typeof node>;

/** The finder's answer for a graph over the inputs `x` (and `y`): stacks as "name/kind: tensor(heads) …", or the InputError. */
function find(
  nodes: Node[],
  extra: { initializer?: unknown[]; input?: unknown[]; output?: unknown[]; valueInfo?: unknown[] } = {},
): string {
  const graph = {
    node: nodes,
    initializer: [
      float('W', [4, 4], new Array(16).fill(0.5)),
      float('c', [], [2]),
      int64('shape', [0, 0, -1]),
      ...(extra.initializer ?? []),
    ],
    input: extra.input ?? [info('x', ['batch', 'sequence', 4]), info('y', ['batch', 'sequence', 4])],
    output: extra.output ?? [info('out', ['batch', 'sequence', 4])],
    valueInfo: extra.valueInfo ?? [],
  };
  try {
    const stacks = findAttention(decodeModel(modelBytes('t', graph, 'test'), 't.onnx'), 't.onnx');
    return stacks.map((s) => `${s.name}/${s.kind}: ${s.layers.map((l) => `${l.tensor}(${l.heads})`).join(' ')}`).join('; ');
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    return `refused: ${err.message}`;
  }
}

const transpose = (from: string, to: string) => node('Transpose', [from], [to], { perm: [0, 2, 1] });

/**
 * softmax(q·kᵀ [ops]) [ops] · v, with q, k and v from `x` unless a weight is named.
 * `between` and `after` are chains of one op each, fed the tensor before them.
 */
function attention({
  q = 'x',
  k = 'x',
  v = 'x',
  qk = 'MatMul',
  value = 'MatMul',
  between = [] as string[],
  after = [] as string[],
  softmax = {} as Partial<Node>,
} = {}): Node[] {
  const chain = (start: string, ops: string[], tag: string) => {
    const nodes: Node[] = [];
    let t = start;
    ops.forEach((op, i) => {
      const out = `${tag}${i}`;
      const inputs = ['Add', 'Sub', 'Mul', 'Div', 'Max', 'Min'].includes(op)
        ? [t, 'c']
        : op === 'Where'
          ? ['cond', t, t]
          : op === 'Reshape' || op === 'Expand'
            ? [t, 'shape']
            : [t];
      nodes.push(node(op, inputs, [out]));
      t = out;
    });
    return { nodes, out: t };
  };
  const scores = chain('s', between, 'score');
  const probs = chain('p', after, 'prob');
  return [
    transpose(k, 'kt'),
    { ...node(qk, [q, 'kt'], ['s']), ...(qk === 'FusedMatMul' ? { domain: 'com.microsoft' } : {}) },
    ...scores.nodes,
    { ...node('Softmax', [scores.out], ['p'], { axis: -1 }), ...softmax },
    ...probs.nodes,
    node(value, [probs.out, v], ['out']),
  ];
}

const one = (tensor = 'p', heads: number | null = null) => `encoder/self: ${tensor}(${heads})`;
const none = /^refused: t\.onnx has no visible attention/;

describe('attention finder rules', () => {
  const scoreOps = 'Add Cast Clip Div Expand Identity Max Min Mul Reshape Squeeze Sub Tanh Unsqueeze Where'.split(' ');
  it(`finds the query-key product through each op that scores pass: ${scoreOps.join(', ')}`, () => {
    for (const op of scoreOps)
      assert.equal(find(attention({ between: [op] })), one(), `${op} between the scores and the Softmax lost the attention`);
  });

  it('looks back through at most seven ops between the product and the Softmax', () => {
    assert.equal(find(attention({ between: new Array(7).fill('Identity') })), one());
    assert.match(find(attention({ between: new Array(8).fill('Identity') })), none, 'the search back went deeper than searchDepth');
    assert.match(find(attention({ between: ['Relu'] })), none, 'an op outside the score ops let the search through');
  });

  const probOps = ['Reshape', 'Cast', 'Identity', 'Dropout', 'Where', 'Squeeze', 'Unsqueeze', 'Mul', 'Transpose'];
  it(`finds the value product through each op that probabilities pass: ${probOps.join(', ')}`, () => {
    for (const op of probOps) {
      const exposed = ['Reshape', 'Identity', 'Squeeze', 'Unsqueeze'].includes(op) ? 'prob0' : 'p';
      assert.equal(
        find(attention({ after: [op] })),
        one(exposed),
        `${op} between the Softmax and the value product lost the attention (or the shape op was not followed)`,
      );
    }
    assert.match(find(attention({ after: ['Relu'] })), none, 'an op outside the probability ops let the search through');
  });

  it('follows shape ops after another probability op too, where the exposed tensor stays the Softmax output', () => {
    for (const op of ['Reshape', 'Identity', 'Squeeze', 'Unsqueeze'])
      assert.equal(find(attention({ after: ['Cast', op] })), one('p'), `Cast then ${op} between the Softmax and the value product`);
  });

  it('looks forward through probability ops to the value product, exposing the tensor after the shape ops', () => {
    assert.equal(find(attention({ after: new Array(7).fill('Identity') })), one('prob6'));
    assert.equal(find(attention({ after: new Array(7).fill('Dropout') })), one('p'));
    assert.equal(
      find(attention({ after: ['Reshape', 'Cast', 'Reshape'] })),
      one('prob0'),
      'shape ops are followed up to the first other op',
    );
  });

  it('takes each matrix product as the query-key or the value product: MatMul, Einsum, FusedMatMul, MatMulInteger', () => {
    for (const qk of ['MatMul', 'Einsum', 'FusedMatMul', 'MatMulInteger'])
      assert.equal(find(attention({ qk })), one(), `${qk} as the query-key product`);
    for (const value of ['Einsum', 'FusedMatMul']) assert.equal(find(attention({ value })), one(), `${value} as the value product`);
    assert.match(find(attention({ qk: 'Gemm' })), none);
  });

  it('needs activations on all three sides: a weight as queries, keys or values is not attention', () => {
    assert.equal(
      find(attention({ q: 'x', k: 'y', v: 'y' })).split(':')[0],
      'cross/cross',
      'queries and keys from different inputs are cross-attention',
    );
    for (const side of ['q', 'k', 'v'] as const)
      assert.match(find(attention({ [side]: 'W' })), none, `a weight as ${side} was taken for attention`);
  });

  it('reads only the standard Softmax (default or ai.onnx domain)', () => {
    assert.equal(find(attention({ softmax: { domain: 'ai.onnx' } })), one());
    assert.match(find(attention({ softmax: { domain: 'com.example' } })), none, 'a Softmax of another domain was read');
    assert.equal(
      find(attention({ softmax: { opType: 'Sigmoid' } })),
      'refused: t.onnx has no visible attention: no Softmax is fed by a query-key MatMul of two activations and feeds a value MatMul, and no graph output holds attentions',
      'a Sigmoid between the products is not a Softmax',
    );
  });

  it("names a layer by its Softmax node, and exposes the Softmax's own output when another op also reads it", () => {
    const stacks = findAttention(
      decodeModel(
        modelBytes('t', { node: attention({ softmax: { name: 'attn_softmax' } }), input: [info('x', ['b', 's', 4])] }, 'test'),
        't',
      ),
      't',
    );
    assert.deepEqual(
      stacks[0].layers.map((l) => [l.tensor, l.source]),
      [['p', 'attn_softmax']],
    );
    assert.equal(
      find([...attention({ after: ['Reshape'] }), node('Identity', ['p'], ['p_copy'])]),
      one('p'),
      'followed a shape op though the Softmax output has two readers',
    );
  });

  it('self-attention when queries and keys depend on a common input, cross-attention when on none', () => {
    // Keys from the queries' input and another (a key cache before the new keys) are still self-attention.
    const keysOfBoth = [node('Add', ['x', 'y'], ['xy']), ...attention({ k: 'xy', v: 'xy' })];
    assert.match(find(keysOfBoth), /^encoder\/self/, 'keys from x and y, queries from x');
    const z = { input: [info('x', ['b', 's', 4]), info('y', ['b', 's', 4]), info('z', ['b', 's', 4])] };
    assert.match(
      find([node('Add', ['x', 'y'], ['xy']), node('Add', ['x', 'z'], ['xz']), ...attention({ q: 'xy', k: 'xz', v: 'xz' })], z),
      /^encoder\/self/,
      'queries from x and y, keys from x and z',
    );
    assert.match(find(attention({ q: 'y', k: 'z', v: 'z' }), z), /^cross\/cross/, 'queries from y, keys from z');
  });

  it('self-attention over two unrelated inputs makes two stacks, each named by its input', () => {
    const tower = (p: string, x: string) => [
      transpose(x, `${p}kt`),
      node('MatMul', [x, `${p}kt`], [`${p}s`]),
      node('Softmax', [`${p}s`], [`${p}p`], { axis: -1 }),
      node('MatMul', [`${p}p`, x], [`${p}out`]),
    ];
    assert.equal(
      find([...tower('a', 'x'), ...tower('b', 'y')]),
      'encoder:x/self: ap(null); encoder:y/self: bp(null)',
      'the two stacks were merged, or the first one renamed as if it were alone',
    );
    const z = { input: [info('x', ['b', 's', 4]), info('y', ['b', 's', 4]), info('z', ['b', 's', 4])] };
    assert.equal(
      find([...tower('a', 'x'), node('Add', ['y', 'z'], ['yz']), ...tower('b', 'yz')], z),
      'encoder:x/self: ap(null); encoder:y,z/self: bp(null)',
      'a stack over two inputs is named by both, comma-separated',
    );
  });
});

describe('fused attention is refused by name', () => {
  const fused = [
    ...['Attention', 'MultiHeadAttention', 'GroupQueryAttention', 'QAttention', 'SparseAttention'],
    ...['PackedAttention', 'PackedMultiHeadAttention', 'PagedAttention', 'LongformerAttention'],
    ...['DecoderAttention', 'DecoderMaskedMultiHeadAttention', 'DecoderMaskedSelfAttention', 'RelativePositionBias'],
  ];
  it(`com.microsoft ${fused.join(', ')}; and the ONNX Attention op`, () => {
    for (const op of fused) {
      const msg = find([{ ...node(op, ['x'], ['out']), domain: 'com.microsoft' }, ...attention()]);
      assert.match(
        msg,
        new RegExp(
          `^refused: t\\.onnx uses fused attention \\(com\\.microsoft\\.${op} ×1\\), which computes .* export the model without attention fusion \\(e\\.g\\. torch\\.onnx\\.export with the eager attention implementation, attn_implementation="eager", and without onnxruntime's transformer optimizer or optimum's --optimize\\)$`,
        ),
        op,
      );
    }
    assert.match(
      find([node('Attention', ['x'], ['a1']), node('Attention', ['a1'], ['out'])]),
      /\(ai\.onnx\.Attention ×2\)/,
      'each op is counted',
    );
    assert.match(
      find([
        { ...node('Attention', ['x'], ['a']), domain: 'ai.onnx' },
        { ...node('MultiHeadAttention', ['a'], ['out']), domain: 'com.microsoft' },
      ]),
      /\(ai\.onnx\.Attention ×1, com\.microsoft\.MultiHeadAttention ×1\)/,
    );
    assert.equal(
      find([{ ...node('MultiHeadAttention', ['x'], ['m']), domain: 'com.example' }, ...attention()]),
      one(),
      'only com.microsoft contrib ops are fused attention',
    );
    assert.equal(
      find([{ ...node('Attention', ['x'], ['m']), domain: 'com.example' }, ...attention()]),
      one(),
      'an Attention op of another domain is not ONNX Attention',
    );
  });
});

describe('heads', () => {
  const split = (shape: string) => [node('Reshape', ['x', shape], ['x4']), node('Transpose', ['x4'], ['q'], { perm: [0, 2, 1, 3] })];
  it('from dim 1 of the probabilities where the graph states it, else from the Reshape that splits the queries', () => {
    const withInfo = (dim: number | string) => find(attention(), { valueInfo: [info('p', ['batch', dim, 'sequence', 'sequence'])] });
    assert.equal(withInfo(6), one('p', 6));
    assert.equal(withInfo('heads'), one('p', null));
    assert.equal(
      find(attention(), { valueInfo: [info('other', ['batch', 7, 'sequence', 'sequence'])] }),
      one('p', null),
      "another tensor's shape was read",
    );
    assert.equal(
      find(attention(), { valueInfo: [info('p', ['batch', 6, 6])] }),
      one('p', null),
      'dim 1 of a 3-D tensor is queries, not heads',
    );
    assert.equal(find([...split('heads3'), ...attention({ q: 'q' })], { initializer: [int64('heads3', [0, 0, 3, 2])] }), one('p', 3));
    assert.equal(
      find([...split('heads3'), node('Mul', ['q', 'c'], ['qs']), ...attention({ q: 'qs' })], {
        initializer: [int64('heads3', [0, 0, 3, 2])],
      }),
      one('p', 3),
      'through a scale',
    );
    assert.equal(
      find([...split('bad'), ...attention({ q: 'q' })], { initializer: [int64('bad', [0, 0, 0, 2])] }),
      one('p', null),
      'a zero dim is no head count',
    );
    assert.equal(
      find([node('Reshape', ['x', 'heads3'], ['x4']), node('Transpose', ['x4'], ['q'], { perm: [0, 1, 2, 3] }), ...attention({ q: 'q' })], {
        initializer: [int64('heads3', [0, 0, 3, 2])],
      }),
      one('p', null),
      'a transpose that does not move the heads axis',
    );
  });

  it('walking back from the queries through other ops to the Reshape that splits them, no further than the projection', () => {
    const three = { initializer: [int64('heads3', [0, 0, 3, 2])] };
    const through = (ops: string[], constantFirst = false) => {
      const nodes = ops.map((op, i) => {
        const from = i === 0 ? 'q' : `w${i - 1}`;
        const binary = ['Mul', 'Div', 'Add', 'MatMul'].includes(op);
        return node(op, binary ? (constantFirst ? ['c', from] : [from, 'c']) : [from], [`w${i}`]);
      });
      return find([...split('heads3'), ...nodes, ...attention({ q: `w${ops.length - 1}` })], three);
    };
    for (const op of ['Mul', 'Div', 'Cast', 'Identity', 'Add']) assert.equal(through([op]), one('p', 3), `through ${op}`);
    assert.equal(through(['Mul'], true), one('p', 3), 'the scale constant comes first');
    assert.equal(through(['Relu']), one('p', 3), 'through an elementwise op');
    assert.equal(through(new Array(40).fill('Identity')), one('p', 3));
    assert.equal(through(new Array(60).fill('Identity')), one('p', null), 'walked back further than its budget of nodes');
    assert.equal(
      through(['MatMul']),
      one('p', 1),
      'a product with a weight is the projection: the heads split before it belong to the previous layer',
    );
    assert.equal(
      find([node('Transpose', ['x'], ['q'], { perm: [0, 2, 1, 3] }), ...attention({ q: 'q' })]),
      one('p', null),
      'a transpose with no Reshape before it',
    );
  });

  it('from a Concat of constants and dynamic sizes', () => {
    const concat = [
      node('Shape', ['x'], ['dyn']),
      node('Unsqueeze', ['three', 'zero'], ['u3']),
      node('Concat', ['dyn', 'zeroes', 'u3', 'two'], ['shape4'], { axis: 0 }),
    ];
    const initializer = [int64('three', [3]), int64('zero', [0]), int64('zeroes', [0]), int64('two', [2])];
    assert.equal(find([...concat, ...split('shape4'), ...attention({ q: 'q' })], { initializer }), one('p', 3));
    const dynamicHeads = [node('Shape', ['x'], ['dyn']), node('Concat', ['zeroes', 'zeroes', 'dyn', 'two'], ['shape4'], { axis: 0 })];
    assert.equal(
      find([...dynamicHeads, ...split('shape4'), ...attention({ q: 'q' })], { initializer }),
      one('p', null),
      'a dynamic head count',
    );
    const shapeInput = { input: [info('x', ['b', 's', 4]), info('y', ['b', 's', 4]), info('s4', [4], 7)] };
    assert.match(find([...split('s4'), ...attention({ q: 'q' })], shapeInput), /: p\(null\)$/, 'a shape fed from a graph input');
    assert.equal(
      find([...split('short'), ...attention({ q: 'q' })], { initializer: [int64('short', [0, 12])] }),
      one('p', null),
      'a shape without a heads dim',
    );
  });

  it('one head where queries come straight from a [batch, seq, hidden] input; unknown from another rank', () => {
    assert.equal(find([node('MatMul', ['x', 'W'], ['q']), ...attention({ q: 'q' })]), one('p', 1));
    assert.equal(
      find([node('MatMul', ['x', 'W'], ['q']), ...attention({ q: 'q' })], { input: [info('x', ['batch', 2, 'sequence', 4])] }),
      one('p', null),
    );
    assert.equal(
      find([node('MatMul', ['x', 'W'], ['q']), ...attention({ q: 'q' })], { input: [{ name: 'x' }, info('y', ['b', 's', 4])] }),
      one('p', null),
      'an input without a declared shape',
    );
  });
});

describe('grouped-query attention', () => {
  it('the stack takes the key heads of its layers where fewer than the query heads; none where as many', () => {
    const stackOf = (keyShape: string) => {
      const nodes = [
        node('Reshape', ['x', 'heads4'], ['q4']),
        node('Transpose', ['q4'], ['q'], { perm: [0, 2, 1, 3] }),
        node('Reshape', ['x', keyShape], ['k4']),
        node('Transpose', ['k4'], ['kt'], { perm: [0, 2, 3, 1] }),
        node('MatMul', ['q', 'kt'], ['s']),
        node('Softmax', ['s'], ['p'], { axis: -1 }),
        node('MatMul', ['p', 'x'], ['out']),
      ];
      const graph = {
        node: nodes,
        initializer: [int64('heads4', [0, 0, 4, 1]), int64('heads2', [0, 0, 2, 2])],
        input: [info('x', ['batch', 'sequence', 4])],
        output: [info('out', ['batch', 'sequence', 4])],
      };
      const [stack] = findAttention(decodeModel(modelBytes('t', graph, 'test'), 't.onnx'), 't.onnx');
      return { heads: stack.layers[0].heads, kvHeads: stack.kvHeads, has: 'kvHeads' in stack };
    };
    assert.deepEqual(stackOf('heads2'), { heads: 4, kvHeads: 2, has: true }, '4 query heads over 2 key heads');
    assert.deepEqual(stackOf('heads4'), { heads: 4, kvHeads: undefined, has: false }, 'as many key heads as query heads');
  });
});

describe('attention exported as graph outputs', () => {
  const outputs = (names: [string, (number | string)[] | null][]) =>
    find([node('Exp', ['x'], ['e']), ...names.map(([n]) => node('Identity', ['e'], [n]))], {
      output: names.map(([n, dims]) => (dims ? info(n, dims) : { name: n })),
    });

  it('takes the rank-4 outputs named like attention, in the order of their layer numbers', () => {
    const s = ['batch', 'sequence', 'sequence'];
    assert.equal(
      outputs([
        ['attentions.10', ['batch', 4, 'sequence', 'sequence']],
        ['enc1.attention.5', null],
        ['layer.3.attention', null],
        ['Attention_2', ['batch', 4, 'sequence', 'sequence']],
        ['layer.0.attention', ['batch', 'h', ...s.slice(1)]],
        ['attention_mask_out', s],
        ['probs', ['batch', 4, ...s.slice(1)]],
      ]),
      'encoder/self: layer.0.attention(null) Attention_2(4) layer.3.attention(null) enc1.attention.5(null) attentions.10(4)',
      'outputs sorted as text, a rank-3 or unnamed output taken, or heads misread',
    );
    assert.equal(
      outputs([
        ['attentions.2', null],
        ['attentions', null],
        ['attentions.3', null],
        ['attentions.1', null],
      ]),
      'encoder/self: attentions(null) attentions.1(null) attentions.2(null) attentions.3(null)',
      'a name without a number is layer 0; the rest in number order',
    );
    assert.equal(
      outputs([['attn_attention', null]]),
      'encoder/self: attn_attention(null)',
      'an output without a declared shape counts as rank 4',
    );
    assert.match(outputs([['probs', ['batch', 4, 'sequence', 'sequence']]]), none);
  });

  it('are not used when a Softmax is found', () => {
    assert.equal(
      find(attention(), { output: [info('out', ['batch', 'sequence', 4]), info('attentions.0', ['batch', 1, 'sequence', 'sequence'])] }),
      one(),
    );
  });
});
