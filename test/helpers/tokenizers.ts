// Test helper: a small WordPiece tokenizer.json (BERT's normalizer, pre-tokenizer and [CLS] … [SEP] template), nine tokens by default.
const special = (t: string) => ({ SpecialToken: { id: t, type_id: 0 } });

/** Its tokens, by id: five special ones, then the, dog, runs, far. */
export const smallVocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'the', 'dog', 'runs', 'far'];

/** A token file's header for `smallVocab`'s ids ([PAD] 0, [CLS] 2, [SEP] 3, [MASK] 4), examples of 8 tokens at most. */
export const smallTokenHeader = {
  vocabSize: smallVocab.length,
  padId: 0,
  maskId: 4,
  specialIds: [0, 2, 3],
  maxLength: 8,
  tokenizer: 't',
  text: 'x',
};

/** The parsed tokenizer.json over these tokens, the first five special as in `smallVocab`. */
export function smallWordPieceTokenizer(vocab: readonly string[] = smallVocab): Record<string, unknown> {
  return {
    version: '1.0',
    added_tokens: vocab
      .slice(0, 5)
      .map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [special('[CLS]'), { Sequence: { id: 'A', type_id: 0 } }, special('[SEP]')],
      pair: [special('[CLS]'), { Sequence: { id: 'A', type_id: 0 } }, special('[SEP]')],
      special_tokens: { '[CLS]': { id: '[CLS]', ids: [2], tokens: ['[CLS]'] }, '[SEP]': { id: '[SEP]', ids: [3], tokens: ['[SEP]'] } },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
    },
  };
}
