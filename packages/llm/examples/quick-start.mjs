// Run: node examples/quick-start.mjs [model dir]   (default: the bundled toy model of the repository)
import { loadLanguageModel } from '@duo-attn/llm';

const dir = process.argv[2] ?? 'models/toy-retrieval';
// DuoAttention: the pattern's lower-ranked half of the KV heads keep only sink + recent tokens.
const model = await loadLanguageModel(dir, { pattern: `${dir}/pattern`, sparsity: 0.5 });
try {
  const prompt =
    'The secret code of the silver lantern is 4512876. The river runs past the old mill.\n\n' +
    'Question: What is the secret code of the silver lantern?\n' +
    'Answer: The secret code of the silver lantern is';
  const stream = model.stream(prompt);
  for await (const { text } of stream) process.stdout.write(text);
  const { tokens, finishReason } = await stream.result;
  console.log(`\n(${tokens.length} tokens, ${finishReason} on ${model.backendName})`);
} finally {
  await model.dispose();
}
