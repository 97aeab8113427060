// Test helper: the fuzz targets: every reader of a file a user hands the tool, on mutations of the project's own fixtures. Loaded by the fuzz worker by name.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as fc from 'fast-check';
import { onnx } from 'onnx-proto';
import { declaredInputs } from '../../analysis/app/examples';
import { checkWebviewMessage } from '../../extension/panelMessages';
import { checkHeadMapJson } from '../../analysis/config/headMapFile';
import { checkReuseConfig } from '../../analysis/config/reuseConfig';
import { decodeTokenFile, encodeTokenFile } from '../../analysis/config/tokenFile';
import { parseJsonText } from '../../analysis/jsonText';
import { modelDims } from '../../analysis/onnx/dims';
import { attentionOnlyModel, elemTypeOf } from '../../analysis/onnx/expose';
import { selectBranches } from '../../analysis/onnx/branches';
import { describeModel, openAttentionModel } from '../../analysis/onnx/inspect';
import { externalData } from '../../analysis/onnx/model';
import { costOf } from '../../analysis/planner/cost';
import { planStack } from '../../analysis/planner/plan';
import { checkAnalysis, formatLayerPairs, mergeAnalyses } from '../../analysis/result/analysisFile';
import type { AnalysisFile } from '../../analysis/result/analysisFile';
import { compareAnalysisFiles } from '../../analysis/result/compare';
import { summarizeMetrics } from '../../analysis/result/runMetrics';
import { checkDeclaredInputs, checkExample } from '../../analysis/runtime/exampleSource';
import { encodeLine, parseTokenizer, readJsonlExamples } from '../../analysis/runtime/inputs';
import { decodeImage, fitImage, imageTensor, resolvePreprocess } from '../../analysis/runtime/images';
import { parseNpy, parseNpz } from '../../analysis/runtime/npy';
import { LineSplitter } from '../../analysis/textLine';
import jpeg from 'jpeg-js';
import { encodeNpy, encodeNpz, randomArray, randomPng } from '../helpers/npyFiles';
import { analysisWith } from '../helpers/analysisFixture';
import { reuseConfigWith } from '../helpers/reuseConfigFixture';
import { smallTokenHeader, smallWordPieceTokenizer } from '../helpers/tokenizers';
import { root } from '../helpers/paths.mjs';
import type { FuzzTarget } from './harness';
import { mutatedBytes, mutatedJson, mutatedText } from './mutate';

const models = join(root, 'test', 'fixtures', 'models');
const numpyFiles = [
  encodeNpy({ shape: [2, 3], values: [1, 2, 3, 4, 5, 6] }),
  encodeNpz({ input_features: randomArray([2, 8, 4], 1), decoder_input_ids: { shape: [2, 3], values: [1, 2, 3, 4, 5, 6], dtype: '<i8' } }),
  encodeNpz({ pixel_values: randomArray([1, 3, 2, 2], 2) }, false),
];
const imageFiles = [
  new Uint8Array(randomPng(6, 5, 1)),
  new Uint8Array(jpeg.encode({ data: Buffer.alloc(8 * 8 * 4, 128), width: 8, height: 8 }, 80).data),
];
const imagePreprocess = resolvePreprocess(null, 'fuzz', {}, [16, 16]).preprocess;
const modelNames = ['tiny_single_head', 'bert_opset13', 'encdec_opset17', 'bert_reshape2d'];
const modelBytes = modelNames.map((n) => new Uint8Array(readFileSync(join(models, `${n}.onnx`))));

/** Everything the tool does with a model before ONNX Runtime sees it. */
function readModelBytes(bytes: Uint8Array): void {
  const m = openAttentionModel(bytes, 'fuzz.onnx');
  describeModel(m);
  const declared = declaredInputs(m);
  checkDeclaredInputs(declared);
  modelDims(m.graph, declared.tokenInput);
  externalData(m.graph);
  const tensors = m.stacks.flatMap((s) => s.layers.map((l) => l.tensor));
  tensors.forEach((t) => elemTypeOf(m.graph, t));
  // The rewrite must itself decode: what ONNX Runtime would be handed.
  openAttentionModel(attentionOnlyModel(m.graph, bytes, tensors), 'rewritten.onnx');
}

const where = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
const pick = <T>(list: T[] | null | undefined, f: number): T | undefined =>
  list && list.length > 0 ? list[Math.floor(f * list.length)] : undefined;
const ops = [
  'Softmax',
  'MatMul',
  'Reshape',
  'Transpose',
  'Add',
  'Mul',
  'Where',
  'Cast',
  'Constant',
  'Identity',
  'Einsum',
  'Gather',
  'Concat',
  'Unsqueeze',
  'Attention',
  'If',
  'Loop',
  '',
];
const bigInt = fc.oneof(fc.integer({ min: -3, max: 64 }), fc.constantFrom(2 ** 31, 2 ** 40, 2 ** 53, -(2 ** 40)));

/** An edit of a decoded model's graph. */
type ModelEdit = (g: onnx.GraphProto, m: onnx.ModelProto) => void;

/** Field mutations of a decoded model: ops renamed, edges rewired, nodes dropped, attributes, dims, types and external data set to awkward values. */
const modelEdit: fc.Arbitrary<ModelEdit> = fc.oneof(
  fc.record({ i: where, op: fc.constantFrom(...ops) }).map(
    ({ i, op }): ModelEdit =>
      (g) =>
        void (pick(g.node, i) && (pick(g.node, i)!.opType = op)),
  ),
  fc.record({ i: where, j: where, slot: fc.nat(3), output: fc.boolean() }).map(({ i, j, slot, output }): ModelEdit => (g) => {
    const node = pick(g.node, i);
    const names = g.node.flatMap((n) => [...(n.input ?? []), ...(n.output ?? [])]);
    const name = pick(names, j);
    const list = output ? node?.output : node?.input;
    if (list && name !== undefined) list[slot % Math.max(1, list.length)] = name;
  }),
  fc.record({ i: where }).map(
    ({ i }): ModelEdit =>
      (g) =>
        void g.node.splice(Math.floor(i * g.node.length), 1),
  ),
  fc
    .record({
      i: where,
      name: fc.constantFrom('axis', 'perm', 'to', 'value', 'transB'),
      int: bigInt,
      ints: fc.array(bigInt, { maxLength: 5 }),
    })
    .map(({ i, name, int, ints }): ModelEdit => (g) => {
      const node = pick(g.node, i);
      if (node) node.attribute = [onnx.AttributeProto.create({ name, i: int, ints, type: ints.length > 0 ? 7 : 2 })];
    }),
  fc
    .record({ i: where, dims: fc.array(bigInt, { maxLength: 5 }), dataType: fc.integer({ min: 0, max: 30 }), cut: where })
    .map(({ i, dims, dataType, cut }): ModelEdit => (g) => {
      const t = pick(g.initializer, i);
      if (!t) return;
      t.dims = dims;
      t.dataType = dataType;
      if (t.rawData) t.rawData = t.rawData.subarray(0, Math.floor(cut * t.rawData.length));
    }),
  fc
    .record({
      i: where,
      dims: fc.array(
        fc.oneof(
          bigInt.map((d) => ({ dimValue: d })),
          fc.string({ maxLength: 4 }).map((p) => ({ dimParam: p })),
        ),
        { maxLength: 5 },
      ),
      elemType: fc.integer({ min: 0, max: 20 }),
    })
    .map(({ i, dims, elemType }): ModelEdit => (g) => {
      const input = pick(g.input, i);
      if (input) input.type = onnx.TypeProto.create({ tensorType: { elemType, shape: { dim: dims } } });
    }),
  fc.record({ version: bigInt, domain: fc.constantFrom('', 'ai.onnx', 'com.microsoft') }).map(
    ({ version, domain }): ModelEdit =>
      (_g, m) =>
        void (m.opsetImport = [onnx.OperatorSetIdProto.create({ domain, version })]),
  ),
  fc
    .record({
      i: where,
      location: fc.constantFrom('', 'w.data', '../w.data', '/etc/passwd', 'a/../../b', 'C:\\w'),
      offset: fc.constantFrom('0', '-1', '1e99', 'x', '9007199254740993'),
    })
    .map(({ i, location, offset }): ModelEdit => (g) => {
      const t = pick(g.initializer, i);
      if (!t) return;
      t.dataLocation = 1;
      t.externalData = [
        onnx.StringStringEntryProto.create({ key: 'location', value: location }),
        onnx.StringStringEntryProto.create({ key: 'offset', value: offset }),
      ];
    }),
);

// Graphs whose attention hides in a Loop, If branches and local functions, and a grouped-query
// decoder (a separate list: the seeds kept for `onnxFields` index `modelNames`).
const familyNames = ['shared_loop', 'gpt2_merged', 'bert_functions', 'llama'];
const familyBytes = familyNames.map((n) => new Uint8Array(readFileSync(join(models, `${n}.onnx`))));

// JSONL examples of the model families (images, audio, past keys and values, an If condition).
const familyJsonl = ['vit', 'whisper', 'gpt2_past', 'gpt2_merged'].map((n) => {
  const m = openAttentionModel(new Uint8Array(readFileSync(join(models, `${n}.onnx`))), `${n}.onnx`);
  const lines = readFileSync(join(models, `${n}.inputs.jsonl`), 'utf8')
    .trim()
    .split('\n');
  return { model: m, declared: declaredInputs(m), lines };
});

// JSONL examples of the fixtures, and the declarations of three models they are checked against.
const jsonlModels = ['tiny_single_head', 'bert_opset13', 'encdec_opset17'].map((n) => {
  const m = openAttentionModel(new Uint8Array(readFileSync(join(models, `${n}.onnx`))), `${n}.onnx`);
  const lines = readFileSync(join(models, `${n}.inputs.jsonl`), 'utf8')
    .trim()
    .split('\n');
  return { declared: declaredInputs(m), lines };
});

async function* oneLine(text: string) {
  yield { text, line: 1 };
}

// A small WordPiece tokenizer and a WordLevel one without an unknown token.
const tokenizers = [
  smallWordPieceTokenizer(),
  {
    version: '1.0',
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: null,
    decoder: null,
    model: { type: 'WordLevel', vocab: { the: 0, dog: 1 }, unk_token: null },
  },
];

const analysisDims = { hidden: 16, ffn: 32, vocab: 50, maxPositions: 16 };
const analyses = [
  analysisWith(
    [
      [
        [
          [1, 0.4],
          [0.7, 0.2],
        ],
        [
          [0.4, 1],
          [0.3, 0.9],
        ],
      ],
      [
        [
          [0.7, 0.3],
          [1, 0.5],
        ],
        [
          [0.2, 0.9],
          [0.5, 1],
        ],
      ],
    ],
    [
      [0.5, 0.6],
      [0.7, 0.8],
    ],
    analysisDims,
  ),
  JSON.parse(readFileSync(join(root, 'test', 'fixtures', 'bad', 'files', 'analysis_bert_opset13.json'), 'utf8')),
];
const partialConfig = reuseConfigWith();
const configs = [
  partialConfig,
  {
    ...partialConfig,
    dims: { ...partialConfig.dims, layers: 3 },
    mode: 'custom',
    P: 1,
    heads: [
      ['exact', 'exact'],
      [{ reuse: { layer: 0, head: 1 } }, 'exact'],
      ['skip', 'skip'],
    ],
  },
];

/** One well-formed message of each kind the webview posts (test/unit/panelMessages.test.ts has the full list). */
const webviewMessages: unknown[] = [
  { type: 'ready' },
  { type: 'requestAttentionMap', messageId: 7, example: 3, stack: 'encoder', layer: 2, head: 1 },
  { type: 'selectLayerPair', stack: 'decoder.cross', layer: 0, otherLayer: 5 },
  { type: 'emitConfig', stack: 'encoder', candidate: 12 },
  { type: 'exportChart', chart: 'layer-pairs-encoder', format: 'csv', data: 'layer,a\n0,1\n' },
  { type: 'runCommand', command: 'analyzeSample' },
  { type: 'modelAction', action: 'analyze' },
  { type: 'log', level: 'warn', message: 'hello' },
];

/** Reads a file's text as the storage module would, then the analysis reader, then what plan and merge do with it. */
function readAnalysisText(text: string): void {
  const file = checkAnalysis(parseJsonText(text, 'fuzz.json'), 'fuzz.json');
  for (const s of file.stacks) formatLayerPairs(s);
  planStack(file.stacks[0], { shape: analysisDims });
  mergeAnalyses([
    { path: 'a.json', file },
    { path: 'b.json', file: checkAnalysis(parseJsonText(text, 'fuzz.json'), 'fuzz.json') },
  ]);
  // compare of any two files the reader accepts (here against the other fixture) never fails.
  for (const other of analyses) compareAnalysisFiles(file, other as AnalysisFile);
}

/** Field edits of the decoded model `base` picks, re-encoded and read as a model file. */
function fieldEdits(names: string[], bytes: Uint8Array[], base: fc.Arbitrary<number>) {
  type Input = { base: number; edits: ModelEdit[] };
  return {
    arbitrary: () => fc.record({ base, edits: fc.array(modelEdit, { minLength: 1, maxLength: 4 }) }),
    run: ({ base, edits }: Input) => {
      const m = onnx.ModelProto.decode(bytes[base]);
      for (const edit of edits) edit(m.graph as onnx.GraphProto, m);
      readModelBytes(onnx.ModelProto.encode(m).finish());
    },
    show: ({ base, edits }: Input) => `${names[base]} with ${edits.length} field edits`,
  };
}

const metricsLines = [
  '{"step": 0, "loss": null, "lr": 0.0, "tokensPerSecond": 0.0, "elapsedSeconds": 0.0, "evalLoss": 4.8, "evalAccuracy": 0.27, "evalPerplexity": 121.5, "evalTokens": 80}',
  '{"step": 1, "loss": 4.9, "lr": 1e-5, "tokensPerSecond": 5000.0, "elapsedSeconds": 0.4, "maskedTokens": 31, "distillKl": 0.02, "objective": 2.5}',
];

export const targets: Record<string, FuzzTarget<never>> = {
  /** The ONNX reader and attention finder on model bytes with byte flips, truncations, insertions and large varints. */
  onnxBytes: { arbitrary: () => mutatedBytes(modelBytes), run: readModelBytes, show: (b: Uint8Array) => `${b.length} bytes` },
  /** The same on models whose decoded fields were mutated and re-encoded. */
  // The tiny model half the time: a decode and encode of the larger ones takes milliseconds.
  onnxFields: fieldEdits(modelNames, modelBytes, fc.constantFrom(0, 0, 0, 1, 2, 3)),
  /** Field edits of graphs with a Loop, If branches, local functions and grouped-query attention (the small Loop model most often). */
  onnxGraphs: fieldEdits(familyNames, familyBytes, fc.constantFrom(0, 0, 0, 0, 0, 1, 2, 3)),
  /** Mutated lines of image, audio, KV-cache and merged-decoder inputs: read, checked, and the If branch chosen from them. */
  jsonlFamilies: {
    arbitrary: () =>
      fc.record({
        model: fc.nat(familyJsonl.length - 1),
        text: mutatedJson(familyJsonl.flatMap((m) => m.lines.map((l) => JSON.parse(l) as unknown))).map((j) => JSON.stringify(j) ?? ''),
      }),
    run: async ({ model, text }: { model: number; text: string }) => {
      const { model: m, declared } = familyJsonl[model];
      for await (const ex of readJsonlExamples(oneLine(text), 'fuzz.jsonl', declared.inputs)) {
        checkExample(ex, declared);
        selectBranches(m, ex);
      }
    },
  },
  /** The JSONL reader and the checks against three models' declarations, on mutated example lines. */
  jsonl: {
    arbitrary: () =>
      fc.record({
        model: fc.nat(jsonlModels.length - 1),
        text: fc.oneof(
          mutatedJson(jsonlModels.flatMap((m) => m.lines.map((l) => JSON.parse(l) as unknown))).map((j) => JSON.stringify(j) ?? ''),
          mutatedText(jsonlModels.flatMap((m) => m.lines)),
        ),
      }),
    run: async ({ model, text }: { model: number; text: string }) => {
      const { declared } = jsonlModels[model];
      for await (const ex of readJsonlExamples(oneLine(text), 'fuzz.jsonl', declared.inputs)) checkExample(ex, declared);
    },
  },
  /** The line splitter on any bytes, cut into chunks anywhere. */
  lines: {
    arbitrary: () =>
      fc.record({
        bytes: fc.uint8Array({ maxLength: 400 }),
        cuts: fc.array(fc.nat(400), { maxLength: 6 }),
        max: fc.integer({ min: 1, max: 64 }),
      }),
    run: ({ bytes, cuts, max }: { bytes: Uint8Array; cuts: number[]; max: number }) => {
      const splitter = new LineSplitter('fuzz.txt', max);
      let from = 0;
      for (const cut of [...cuts].sort((a, b) => a - b)) {
        splitter.push(bytes.subarray(from, Math.max(from, Math.min(cut, bytes.length))));
        from = Math.max(from, Math.min(cut, bytes.length));
      }
      splitter.push(bytes.subarray(from));
      splitter.end();
    },
  },
  /** The tokenizer reader and the encoding of a line, on mutated tokenizer.json files and any text. */
  tokenizer: {
    arbitrary: () =>
      fc.record({
        json: mutatedJson(tokenizers).map((j) => JSON.stringify(j) ?? ''),
        text: fc.oneof(fc.constantFrom('the dog runs far', 'zebra', ''), fc.string({ maxLength: 20 })),
      }),
    run: ({ json, text }: { json: string; text: string }) => {
      const tok = parseTokenizer(parseJsonText(json, 'tokenizer fuzz.json'), 'fuzz.json');
      encodeLine(tok, text, 8, 'fuzz.txt:1');
    },
  },
  /** The analysis reader (schema, ranges, consistency), the planner and merge, on mutated analysis files. */
  analysis: {
    arbitrary: () =>
      fc.oneof(
        mutatedJson(analyses).map((j) => JSON.stringify(j) ?? ''),
        mutatedText(analyses.map((a) => JSON.stringify(a))),
      ),
    run: readAnalysisText,
    show: (t: string) => t.slice(0, 300),
  },
  /** The reuse-config and head-map readers and the cost model on mutated configs. */
  config: {
    arbitrary: () => mutatedJson(configs).map((j) => JSON.stringify(j) ?? ''),
    run: (text: string) => {
      const json = parseJsonText(text, 'fuzz.reuse.json');
      const config = checkReuseConfig(json, 'fuzz.reuse.json');
      costOf(config.dims, config.heads, 128);
      checkHeadMapJson(json, 'fuzz.reuse.json', config.dims.layers, config.dims.heads);
    },
  },
  /** The token-file decoder on mutated token files. */
  tokenFile: {
    arbitrary: () => mutatedBytes([encodeTokenFile([[2, 5, 3], [], [2, 7, 8, 3]], smallTokenHeader)]),
    run: (bytes: Uint8Array) => decodeTokenFile(bytes, 'fuzz.tokens'),
    show: (b: Uint8Array) => Buffer.from(b).toString('base64'),
  },
  /** NumPy arrays given as --inputs: an .npy and an .npz (stored and deflated), mutated. */
  numpy: {
    arbitrary: () => mutatedBytes(numpyFiles),
    run: (bytes: Uint8Array) => (bytes[0] === 0x93 ? parseNpy(bytes, 'fuzz.npy') : parseNpz(bytes, 'fuzz.npz')),
    show: (b: Uint8Array) => Buffer.from(b).toString('base64'),
  },
  /** Image files of an --images folder: a PNG and a JPEG, mutated, decoded and prepared for a 16×16 model. */
  image: {
    arbitrary: () => mutatedBytes(imageFiles),
    run: (bytes: Uint8Array) => {
      const image = fitImage(decodeImage(bytes, 'fuzz.png'), imagePreprocess);
      return imageTensor(image, imagePreprocess);
    },
    show: (b: Uint8Array) => Buffer.from(b).toString('base64'),
  },
  /**
   * The host's check of what a webview posts: it must answer every value with {ok} or
   * {ok: false, reason} and never throw (nothing is an allowed refusal here).
   */
  /** compare's reader of a run's metrics.jsonl: any lines give a summary, never an error. */
  metrics: {
    arbitrary: () =>
      fc.array(
        fc.oneof(
          mutatedText(metricsLines),
          mutatedJson(metricsLines.map((l) => JSON.parse(l) as unknown)).map((j) => JSON.stringify(j) ?? ''),
        ),
        { maxLength: 6 },
      ),
    run: (lines: string[]) =>
      summarizeMetrics(
        'fuzz.jsonl',
        lines.map((text, i) => ({ text, line: i + 1 })),
      ),
    allowed: () => false,
  },
  webviewMessage: {
    arbitrary: () =>
      fc.oneof(mutatedJson(webviewMessages), fc.anything({ maxDepth: 3, withNullPrototype: true, withBigInt: true, withMap: true })),
    run: (raw: unknown) => {
      const r = checkWebviewMessage(raw);
      if (r.ok ? typeof r.message?.type !== 'string' : typeof r.reason !== 'string')
        throw new Error(`malformed answer ${JSON.stringify(r)}`);
    },
    allowed: () => false,
  },
} as unknown as Record<string, FuzzTarget<never>>;
