// Decode throughput of the server at several concurrency levels: N streaming clients at once, each
// generating exactly --tokens tokens (ignore_eos) after a prompt of about --prompt tokens, on a
// server with N sequences. Prints one JSON object: per N, generated tokens per second (wall time
// from the first request to the last [DONE]) and mean ms per token of one stream.
// Usage (after `pnpm build`): node apps/server/bench/throughput.mjs [--model DIR] [--backend NAME]
//   [--concurrency 1,8,32] [--tokens 64] [--prompt 256] [--pattern DIR --sparsity S] [--no-batch-decode]
// Each level also reports how its decode steps ran (batched passes and steps, lone steps).

import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { defaultModelDirectory } from '@duo-attn/core';
import { loadLanguageModel } from '@duo-attn/llm';
import { createServer } from '../dist/index.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    backend: { type: 'string' },
    concurrency: { type: 'string', default: '1,8,32' },
    tokens: { type: 'string', default: '64' },
    prompt: { type: 'string', default: '256' },
    pattern: { type: 'string' },
    sparsity: { type: 'string' },
    'no-batch-decode': { type: 'boolean' },
  },
});
const model = values.model ?? defaultModelDirectory();
const tokens = Number(values.tokens);
const levels = values.concurrency.split(',').map(Number);
const results = [];
for (const n of levels) {
  const lm = await loadLanguageModel(model, {
    maxSequences: n,
    batchDecode: values['no-batch-decode'] !== true,
    ...(values.backend ? { backend: values.backend } : {}),
    ...(values.pattern ? { pattern: values.pattern, sparsity: Number(values.sparsity ?? 0.5) } : {}),
  });
  const server = await createServer({ model: lm, logger: false, modelId: 'm' });
  const url = await server.listen(0);
  const words = 'The river runs past the old mill and the wheel turns slowly. ';
  let prompt = '';
  while (lm.encode(prompt).length < Number(values.prompt)) prompt += words;
  const one = async (i) => {
    const started = performance.now();
    const response = await fetch(`${url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        prompt: `${prompt} ${i}`,
        max_tokens: tokens,
        temperature: 0,
        ignore_eos: true,
        stream: true,
      }),
    });
    const text = await response.text();
    if (!text.endsWith('data: [DONE]\n\n')) throw new Error(`stream ${i} incomplete`);
    return performance.now() - started;
  };
  await one(-1); // warm-up
  const started = performance.now();
  const times = await Promise.all(Array.from({ length: n }, (_, i) => one(i)));
  const seconds = (performance.now() - started) / 1000;
  results.push({
    concurrency: n,
    generatedTokens: n * tokens,
    seconds,
    tokensPerSecond: (n * tokens) / seconds,
    meanStreamMsPerToken: times.reduce((a, b) => a + b, 0) / n / tokens,
    decodeBatching: lm.decodeBatching() ?? null,
  });
  await server.close(1000);
  await lm.dispose();
}
console.log(
  JSON.stringify(
    {
      date: new Date().toISOString(),
      model,
      backend: values.backend ?? 'default',
      batchDecode: values['no-batch-decode'] !== true,
      cpu: cpus()[0]?.model,
      cores: cpus().length,
      tokens,
      promptTokens: Number(values.prompt),
      results,
    },
    null,
    2,
  ),
);
