// Writes the training corpus for train_toy_model.py: 24 MB of @duo-attn/eval's generated haystack
// prose (seed 1; evaluation uses other seeds). Run after `pnpm build`:
//   node tools/toy-model/make-corpus.mjs [out-file]   (default .carry/toy/haystack.txt, git-ignored)
import { writeHaystackCorpus } from '../../packages/eval/dist/index.js';

const out = process.argv[2] ?? '.carry/toy/haystack.txt';
await writeHaystackCorpus(out, 24_000_000, 1);
console.log(`wrote ${out}`);
