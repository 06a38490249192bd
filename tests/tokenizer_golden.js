#!/usr/bin/env node
// Golden GPT-2 token ids from an independent encoder: the npm package
// gpt-3-encoder (a JavaScript port of openai/gpt-2's encoder.py with GPT-2's
// own encoder.json / vocab.bpe). test_tokenizer compares the engine with it.
//
// usage: node tokenizer_golden.js <npm_dir> <input.json> <output.json>
//   input.json:  a JSON list of strings
//   output.json: [{"text": ..., "ids": [...]}, ...] in the same order
'use strict';
const fs = require('fs');
const path = require('path');

const [npmDir, inputFile, outputFile] = process.argv.slice(2);
if (!npmDir || !inputFile || !outputFile) {
  console.error('usage: node tokenizer_golden.js <npm_dir> <input.json> <output.json>');
  process.exit(2);
}
const { encode } = require(path.resolve(npmDir, 'node_modules', 'gpt-3-encoder'));
const texts = JSON.parse(fs.readFileSync(inputFile, 'utf-8'));
if (!Array.isArray(texts) || !texts.every(t => typeof t === 'string')) {
  console.error(`${inputFile}: expected a JSON list of strings`);
  process.exit(1);
}
const out = texts.map(text => ({ text, ids: encode(text) }));
fs.writeFileSync(outputFile, JSON.stringify(out));
