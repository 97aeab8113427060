// Protects the runner's checks and cuts on small models built in memory: real rows and columns cut right for right and left padding, float, int32 and bool inputs and an encoder-decoder with both masks (padded batches equal single examples); refusals of a row off by more than the float32 tolerance (naming the head), a tensor of the wrong shape, a model that fails, an input type it cannot feed, inner shapes that differ, too many tokens.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { InputError } from '../../analysis/errors';
import { openAttentionModel } from '../../analysis/onnx/inspect';
import type { ExampleInput } from '../../analysis/runtime/inputs';
import { AttentionRunner } from '../../analysis/runtime/runner';
import type { ExtractedExample } from '../../analysis/runtime/runner';
import { attentionLayer, embedAndMask, float, info, int64, modelBytes, node } from '../../scripts/fixtures/onnxGraph.mjs';
import { pseudoRandom } from '../../analysis/runtime/pseudoRandom';

type Graph = Parameters<typeof modelBytes>[1];
type Tensors = Record<string, number[] | number[][]>;

const example = (index: number, tensors: Tensors): ExampleInput => ({
  index,
  origin: `mem:${index + 1}`,
  tensors: new Map(
    Object.entries(tensors).map(([k, v]) => [k, { values: v.flat(), shape: Array.isArray(v[0]) ? [v.length, v[0].length] : [v.length] }]),
  ),
});
const ids = (...lengths: number[]) =>
  lengths.map((n, i) => ({
    input_ids: Array.from({ length: n }, (_, t) => 2 + ((3 * t + i) % 10)),
    attention_mask: new Array<number>(n).fill(1),
  }));

async function run(graph: Graph, examples: Tensors[], batchSize: number): Promise<ExtractedExample[]> {
  return runInputs(
    graph,
    examples.map((t, i) => example(i, t)),
    batchSize,
  );
}

async function runInputs(graph: Graph, examples: ExampleInput[], batchSize: number): Promise<ExtractedExample[]> {
  const runner = await AttentionRunner.start(openAttentionModel(modelBytes('m', graph, 'test'), 'm.onnx'), 'cpu');
  try {
    const out: ExtractedExample[] = [];
    const source = async function* () {
      yield* examples;
    };
    for await (const ex of runner.run(source(), { batchSize })) out.push(ex);
    return out;
  } finally {
    await runner.dispose();
  }
}

async function refusal(graph: Graph, examples: Tensors[], batchSize: number): Promise<string> {
  try {
    await run(graph, examples, batchSize);
    return 'accepted';
  } catch (err) {
    assert.ok(err instanceof InputError, `expected an InputError, got ${(err as Error).stack}`);
    return err.message;
  }
}

/** Each stack's [queries, keys] per example, and the largest difference between two runs' attention. */
function compare(a: ExtractedExample[], b: ExtractedExample[], what: string): void {
  assert.equal(a.length, b.length, `${what}: example count`);
  a.forEach((ex, i) =>
    ex.stacks.forEach((s, j) => {
      const t = b[i].stacks[j];
      assert.deepEqual([s.name, s.queries, s.keys], [t.name, t.queries, t.keys], `${what}: example ${i} stack ${s.name} cut differently`);
      s.layers.forEach((layer, l) => {
        let worst = 0;
        for (let x = 0; x < layer.length; x++) worst = Math.max(worst, Math.abs(layer[x] - t.layers[l][x]));
        assert.ok(
          worst <= 1e-6,
          `${what}: example ${i} ${s.name} layer ${l} off by ${worst} (padding leaked into the real rows or columns)`,
        );
      });
    }),
  );
}

/** One masked attention layer over token embeddings; `outputs` adds graph outputs built from its probabilities. */
function tokenModel(
  options: {
    idsType?: number;
    maskType?: number;
    extra?: (probs: string) => { nodes: ReturnType<typeof node>[]; output: Graph[]; initializer?: Graph[] };
  } = {},
): Graph {
  const rand = pseudoRandom(5);
  const embed = embedAndMask(rand, options);
  const layer = attentionLayer('l0_', 'x0', { rand, bias: 'mask_bias', softmax: options.extra ? 'manual' : 'op' });
  const extra = options.extra?.(layer.probs) ?? { nodes: [], output: [] };
  return {
    node: [...embed.nodes, ...layer.nodes, ...extra.nodes],
    initializer: [...embed.initializer, ...layer.initializer, ...(extra.initializer ?? [])],
    input: embed.inputs,
    output: [info(layer.out, ['batch', 'sequence', 4]), ...extra.output],
  };
}

describe('runner cuts', () => {
  it('int32 ids and a bool mask give what int64 ones give, alone and padded', async () => {
    const examples = ids(3, 6, 4);
    const int64Run = await run(tokenModel(), examples, 1);
    compare(await run(tokenModel(), examples, 3), int64Run, 'int64 padded');
    compare(await run(tokenModel({ idsType: 6, maskType: 9 }), examples, 3), int64Run, 'int32 ids and bool mask, padded');
  });

  it('a left-padded example (zeros at the start of its own mask) is cut to its real tokens', async () => {
    const [plain] = ids(4);
    const left = { input_ids: [0, 0, ...plain.input_ids], attention_mask: [0, 0, 1, 1, 1, 1] };
    const middle = { input_ids: [plain.input_ids[0], 0, ...plain.input_ids.slice(1)], attention_mask: [1, 0, 1, 1, 1] };
    const want = await run(tokenModel(), [plain, plain, plain], 1);
    compare(await run(tokenModel(), [left, middle, plain], 3), want, 'masked positions inside an example');
    // One example a batch: nothing is padded, and the example's own mask is what cuts it.
    compare(await run(tokenModel(), [left, middle, plain], 1), want, 'masked positions, one example a batch');
  });

  it("batched by shape (an input that is no token sequence): an example's mask with zeros cuts its keys and its queries", async () => {
    // A float input of its own makes the runner batch examples of one shape and pad nothing.
    const graph = tokenModel();
    graph.input = [...(graph.input as Graph[]), info('temperature', ['batch', 1])];
    const [plain] = ids(4);
    const left = { input_ids: [0, 0, ...plain.input_ids], attention_mask: [0, 0, 1, 1, 1, 1], temperature: [1] };
    const middle = { input_ids: [plain.input_ids[0], 0, ...plain.input_ids.slice(1)], attention_mask: [1, 0, 1, 1, 1], temperature: [1] };
    const want = await run(tokenModel(), [plain, plain], 1);
    compare(await run(graph, [left, middle], 1), want, 'masked positions, batched by shape');
  });

  it("special tokens are counted at their keys, alone and padded; not where the keys are cut or are another input's", async () => {
    const [plain, longer] = ids(4, 6);
    // [CLS] at 0 and [SEP] at 3, as the tokenizer marks them.
    const marked = { ...example(0, plain), special: { input: 'input_ids', positions: [0, 3] } };
    for (const batch of [1, 2]) {
      const [a] = await runInputs(tokenModel(), [marked, example(1, longer)], batch);
      assert.deepEqual(a.stacks[0].specialKeys, [0, 3], `batch ${batch}: the special keys`);
    }
    const left = example(0, { input_ids: [0, 0, ...plain.input_ids], attention_mask: [0, 0, 1, 1, 1, 1] });
    const [cut] = await runInputs(tokenModel(), [{ ...left, special: { input: 'input_ids', positions: [2, 5] } }], 1);
    assert.equal(cut.stacks[0].specialKeys, undefined, 'special positions were counted in keys the mask cut');
    const [other] = await runInputs(tokenModel(), [{ ...marked, special: { input: 'token_type_ids', positions: [0] } }], 1);
    assert.equal(other.stacks[0].specialKeys, undefined, 'special tokens of an input that is not the keys were counted');
  });

  it('float inputs of several inner values are padded row by row', async () => {
    const rand = pseudoRandom(9);
    const layer = attentionLayer('l0_', 'x', { rand, bias: 'mask_bias' });
    const embed = embedAndMask(rand);
    const graph = {
      node: [...embed.nodes.slice(1), ...layer.nodes],
      initializer: [...embed.initializer.slice(1), ...layer.initializer],
      input: [info('x', ['batch', 'sequence', 4]), embed.inputs[1]],
      output: [info(layer.out, ['batch', 'sequence', 4])],
    };
    const rows = (n: number, seed: number) => Array.from({ length: n }, (_, t) => [0, 1, 2, 3].map((k) => Math.sin(seed + 3 * t + k)));
    const examples = [3, 5, 2].map((n, i) => ({ x: rows(n, i), attention_mask: new Array<number>(n).fill(1) }));
    compare(await run(graph, examples, 3), await run(graph, examples, 1), 'float x padded');
  });

  it('an encoder-decoder with both masks: every stack cut to its own real tokens', async () => {
    const { graph, decoderOnly } = encoderDecoder();
    const decoder = ids(2, 5, 3);
    const examples = ids(4, 3, 6).map((e, i) => ({
      ...e,
      decoder_input_ids: decoder[i].input_ids,
      decoder_attention_mask: decoder[i].attention_mask,
    }));
    // The longest decoder example has a shorter encoder input: its cross rows are whole, its columns padded.
    compare(await run(graph, examples, 3), await run(graph, examples, 1), 'encoder-decoder with only the keys of one example padded');
    // Masked positions inside the second example, on each side.
    examples[1].attention_mask = [1, 0, 1];
    examples[1].decoder_attention_mask = [0, 1, 1, 1, 1];
    const single = await run(graph, examples, 1);
    assert.deepEqual(
      single.map((e) => e.stacks.map((s) => `${s.name}:${s.queries}x${s.keys}`).join(' ')),
      ['encoder:4x4 decoder:2x2 cross:2x4', 'encoder:2x2 decoder:4x4 cross:4x2', 'encoder:6x6 decoder:3x3 cross:3x6'],
      'queries and keys of a stack come from the wrong input or mask',
    );
    compare(await run(graph, examples, 3), single, 'encoder-decoder padded on both sides');
    // Without a decoder mask the decoder cannot be padded: it runs one example at a time.
    const unmasked = examples.map(({ decoder_attention_mask: _, ...rest }) => rest);
    compare(await run(decoderOnly, unmasked, 3), await run(decoderOnly, unmasked, 1), 'an encoder-decoder without a decoder mask');
  });

  it("a decoder whose first layer also reads the encoder is cut by the decoder's own tokens", async () => {
    // The decoder's input embedding adds the encoder's first token, so its queries depend on input_ids too.
    const rand = pseudoRandom(13);
    const enc = embedAndMask(rand);
    const dec = embedAndMask(rand, { prefix: 'decoder_' });
    const encoder = attentionLayer('e0_', 'x0', { rand, bias: 'mask_bias' });
    const self = attentionLayer('d0_', 'decoder_in', { rand, bias: 'decoder_mask_bias' });
    const cross = attentionLayer('c0_', self.out, { rand, bias: 'mask_bias', kv: encoder.out });
    const graph = {
      node: [
        ...enc.nodes,
        ...dec.nodes,
        node('Gather', ['x0', 'first'], ['x0_first'], { axis: 1 }),
        node('Add', ['decoder_x0', 'x0_first'], ['decoder_in']),
        ...encoder.nodes,
        ...self.nodes,
        ...cross.nodes,
      ],
      initializer: [
        ...enc.initializer,
        ...dec.initializer,
        int64('first', [0]),
        ...encoder.initializer,
        ...self.initializer,
        ...cross.initializer,
      ],
      input: [...enc.inputs, ...dec.inputs],
      output: [info(cross.out, ['batch', 'decoder_sequence', 4])],
    };
    const decoder = ids(3, 2);
    const examples = ids(4, 6).map((e, i) => ({
      ...e,
      decoder_input_ids: decoder[i].input_ids,
      decoder_attention_mask: decoder[i].attention_mask,
    }));
    const single = await run(graph, examples, 1);
    assert.deepEqual(
      single.map((e) => e.stacks.map((s) => `${s.name}:${s.queries}x${s.keys}`).join(' ')),
      ['encoder:4x4 decoder:3x3 cross:3x4', 'encoder:6x6 decoder:2x2 cross:2x6'],
      "the decoder's rows were taken from the encoder's input",
    );
    compare(await run(graph, examples, 2), single, 'a decoder that reads the encoder, padded');
  });

  it('heads folded into the batch axis ([batch·heads, queries, keys]) are unfolded per example', async () => {
    const folded = tokenModel({
      extra: (probs) => ({
        nodes: [
          node('Shape', [probs], ['dims']),
          node('Slice', ['dims', 'two', 'four', 'zero'], ['last2']),
          node('Concat', ['minus1', 'last2'], ['fold'], { axis: 0 }),
          node('Reshape', [probs, 'fold'], ['attentions.0']),
        ],
        initializer: [int64('two', [2]), int64('four', [4]), int64('zero', [0]), int64('minus1', [-1])],
        output: [{ name: 'attentions.0' }],
      }),
    });
    const single = await run(folded, ids(3, 5), 1);
    assert.deepEqual(
      single.map((e) => e.stacks[0].heads),
      [2, 2],
    );
    compare(await run(folded, ids(3, 5), 2), single, 'folded heads in a padded batch');
  });
});

/** An encoder layer, a masked decoder self-attention layer and a cross-attention layer; and the same without a decoder mask. */
function encoderDecoder(): { graph: Graph; decoderOnly: Graph } {
  const build = (decoderMask: boolean) => {
    const rand = pseudoRandom(11);
    const enc = embedAndMask(rand);
    const dec = embedAndMask(rand, { prefix: 'decoder_' });
    const encoder = attentionLayer('e0_', 'x0', { rand, bias: 'mask_bias' });
    const self = attentionLayer('d0_', 'decoder_x0', { rand, bias: decoderMask ? 'decoder_mask_bias' : null });
    const cross = attentionLayer('c0_', self.out, { rand, bias: 'mask_bias', kv: encoder.out });
    return {
      node: [...enc.nodes, ...(decoderMask ? dec.nodes : dec.nodes.slice(0, 1)), ...encoder.nodes, ...self.nodes, ...cross.nodes],
      initializer: [
        ...enc.initializer,
        ...(decoderMask ? dec.initializer : dec.initializer.slice(0, 1)),
        ...encoder.initializer,
        ...self.initializer,
        ...cross.initializer,
      ],
      input: [...enc.inputs, ...(decoderMask ? dec.inputs : dec.inputs.slice(0, 1))],
      output: [info(cross.out, ['batch', 'decoder_sequence', 4])],
    };
  };
  return { graph: build(true), decoderOnly: build(false) };
}

describe('runner refusals', () => {
  /** Attention as graph outputs, head 1 scaled by `factor`, so its rows sum to `factor`. */
  const scaledHead = (factor: number) =>
    tokenModel({
      extra: (probs) => ({
        nodes: [node('Mul', [probs, 'per_head'], ['attentions.0'])],
        initializer: [float('per_head', [1, 2, 1, 1], [1, factor])],
        output: [info('attentions.0', ['batch', 2, 'sequence', 'sequence'])],
      }),
    });

  it('a float16 row may be off by up to 1e-2', async () => {
    const half = tokenModel({
      extra: (probs) => ({
        nodes: [node('Mul', [probs, 'per_head'], ['scaled']), node('Cast', ['scaled'], ['attentions.0'], { to: 10 })],
        initializer: [float('per_head', [1, 2, 1, 1], [1, 1.005])],
        output: [info('attentions.0', ['batch', 2, 'sequence', 'sequence'], 10)],
      }),
    });
    assert.equal((await run(half, ids(3, 5), 2)).length, 2, 'a float16 tensor was held to the float32 tolerance');
  });

  it('a float32 row off by more than 1e-3 is refused, naming its head, padded or not; 2e-4 is fine', async () => {
    for (const batch of [1, 2]) {
      assert.match(
        await refusal(scaledHead(1.005), ids(3, 5), batch),
        /^attention tensor "attentions\.0" \(encoder layer 0\), head 1, query \d+, mem:1: a real-token row sums to 1\.0050, not 1/,
        `batch ${batch}: a row 5e-3 off passed, or the wrong head was named`,
      );
    }
    assert.equal((await run(scaledHead(1.0002), ids(3, 5), 2)).length, 2);
  });

  it('an attention tensor whose shape is not batch × queries × keys', async () => {
    const wrong = tokenModel({
      extra: () => ({
        nodes: [node('Reshape', ['x0', 'l0_heads'], ['split']), node('Transpose', ['split'], ['attentions.0'], { perm: [0, 2, 1, 3] })],
        output: [info('attentions.0', ['batch', 2, 'sequence', 2])],
      }),
    });
    assert.equal(
      await refusal(wrong, ids(5), 1),
      'attention tensor "attentions.0" (encoder layer 0) has shape [1, 2, 5, 2], which does not match batch 1 × input_ids 5 × input_ids 5',
    );
    const queries = tokenModel({
      extra: () => ({
        nodes: [node('Reshape', ['x0', 'l0_heads'], ['split']), node('Transpose', ['split'], ['attentions.0'], { perm: [0, 2, 3, 1] })],
        output: [info('attentions.0', ['batch', 2, 2, 'sequence'])],
      }),
    });
    assert.match(await refusal(queries, ids(5), 1), /has shape \[1, 2, 2, 5\], which does not match/, 'queries of another length');
    const firstOnly = tokenModel({
      extra: (probs) => ({
        nodes: [node('Slice', [probs, 'zero', 'one_', 'zero'], ['attentions.0'])],
        initializer: [int64('zero', [0]), int64('one_', [1])],
        output: [info('attentions.0', [1, 2, 'sequence', 'sequence'])],
      }),
    });
    assert.match(
      await refusal(firstOnly, ids(3, 5), 2),
      /has shape \[1, 2, 5, 5\], which is not \[batch 2, heads, queries, keys\]/,
      'another batch size',
    );
    const rank5 = tokenModel({
      extra: (probs) => ({
        nodes: [node('Transpose', [probs], ['moved'], { perm: [0, 2, 3, 1] }), node('Unsqueeze', ['moved', 'four'], ['attentions.0'])],
        initializer: [int64('four', [4])],
        output: [{ name: 'attentions.0' }],
      }),
    });
    assert.match(
      await refusal(rank5, ids(3, 5), 2),
      /has shape \[2, 5, 5, 2, 1\], which is not \[batch 2, heads, queries, keys\]/,
      'a rank-5 tensor read as heads folded into the batch',
    );
  });

  it('a model that fails on a batch, a float64 input fed, inner shapes that differ kept apart, too many tokens, too many values', async () => {
    const rand = pseudoRandom(3);
    const layer = attentionLayer('l0_', 'x', { rand });
    const floatModel = (dims: (number | string)[]) => ({
      node: layer.nodes,
      initializer: layer.initializer,
      input: [info('x', dims)],
      output: [info(layer.out, ['batch', 'sequence', 4])],
    });
    const x = (n: number, d: number) => ({ x: Array.from({ length: n }, (_, t) => Array.from({ length: d }, (_, k) => (t + k) / 10)) });
    assert.match(
      await refusal(floatModel(['batch', 'sequence', 'hidden']), [x(3, 6)], 1),
      /^mem:1: the model cannot take "x" \[1, 3, 6\]: [^\n]{20,}$/,
    );
    const double = attentionLayer('d0_', 'xf', { rand });
    const doubleModel = {
      node: [node('Cast', ['x'], ['xf'], { to: 1 }), ...double.nodes],
      initializer: double.initializer,
      input: [info('x', ['batch', 'sequence', 4], 11)],
      output: [info(double.out, ['batch', 'sequence', 4])],
    };
    assert.equal((await run(doubleModel, [x(3, 4)], 1))[0].stacks[0].queries, 3, 'a float64 input is fed as float64');
    const masked = {
      ...floatModel(['batch', 'sequence', 'hidden']),
      input: [info('x', ['batch', 'sequence', 'hidden']), info('attention_mask', ['batch', 'sequence'], 7)],
    };
    const withMask = (t: Tensors, n: number) => ({ ...t, attention_mask: new Array<number>(n).fill(1) });
    // Examples whose inner shapes differ never share a batch: the one the model cannot take is named.
    assert.match(await refusal(masked, [withMask(x(3, 4), 3), withMask(x(3, 5), 3)], 2), /^mem:2: the model cannot take "x" \[1, 3, 5\]/);
    assert.equal(await refusal(floatModel(['batch', 3, 4]), [x(4, 4)], 1), 'mem:1: "x" has 4 tokens; the model takes at most 3');
    assert.equal((await run(floatModel(['batch', 3, 4]), [x(3, 4)], 1))[0].stacks[0].queries, 3, 'exactly the fixed length is fine');
    // Refused from the shapes alone, before a 1 GiB tensor is allocated for it.
    const runner = await AttentionRunner.start(
      openAttentionModel(modelBytes('m', floatModel(['batch', 'sequence', 4]), 'test'), 'm.onnx'),
      'cpu',
    );
    try {
      const huge: ExampleInput = { index: 0, origin: 'mem:1', tensors: new Map([['x', { values: [], shape: [2 ** 26 + 1, 4] }]]) };
      const source = async function* () {
        yield huge;
      };
      await assert.rejects(
        async () => {
          for await (const _ of runner.run(source(), { batchSize: 1 }));
        },
        (err: unknown) =>
          err instanceof InputError &&
          err.field === 'batch' &&
          err.template === 'a batch of 1 examples × 268435460 values of "x" is more than one tensor holds (268435456); lower {field}',
      );
    } finally {
      await runner.dispose();
    }
  });
});
