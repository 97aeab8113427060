// The model-family fixtures of scripts/fixtures/makeFamilies.py, for the suites that run each
// (test/integration/families.test.ts, the UI test's screenshots).
export const families = [
  't5_encdec',
  'vit',
  'whisper',
  'gpt2',
  'gpt2_past',
  'gpt2_merged',
  'llama',
  'bert_functions',
  'bert_tf2onnx',
  'causal_uniform',
  'shared_loop',
];
