// Checks that @huggingface/tokenizers reads media/sample/tokenizer.json and produces the
// same ids as the Python tokenizer that trained the sample model.
// Usage: node checkTokenizer.cjs tokenizer.json pairs.jsonl   (lines: {"text", "ids"})
'use strict';
const fs = require('fs');
const { Tokenizer } = require('@huggingface/tokenizers');

const [tokenizerPath, pairsPath] = process.argv.slice(2);
const tokenizer = new Tokenizer(JSON.parse(fs.readFileSync(tokenizerPath, 'utf8')), {});
const lines = fs.readFileSync(pairsPath, 'utf8').split('\n').filter(Boolean);
let mismatches = 0;
for (const line of lines) {
  const { text, ids } = JSON.parse(line);
  const got = tokenizer.encode(text).ids;
  if (got.length !== ids.length || got.some((id, i) => id !== ids[i])) {
    if (mismatches < 5) {
      console.error(`mismatch for ${JSON.stringify(text)}:\n  js     ${got}\n  python ${ids}`);
    }
    mismatches += 1;
  }
}
console.log(`tokenizer check: ${lines.length - mismatches}/${lines.length} texts give the same ids in JS and Python`);
process.exit(mismatches ? 1 : 0);
