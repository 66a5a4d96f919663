// Long prompts through the built binary, as a user types them: at the context length the command
// runs (a 20 KB --prompt used to kill the process with SIGSEGV inside onnxruntime), past it the
// command is refused before any work, with both numbers named and no stack trace.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { defaultModelDirectory, loadTokenizer } from '@duo-attn/core';
import { describe, expect, it } from 'vitest';

const bin = resolve(import.meta.dirname, '../dist/duo.js');
const run = promisify(execFile);
const CONTEXT = 8192;

/** Runs the binary; never rejects (exit code and signal come back). */
async function duo(...args: string[]) {
  return run(process.execPath, [bin, ...args], { maxBuffer: 16 << 20 }).then(
    ({ stdout, stderr }) => ({ code: 0, signal: null as string | null, stdout, stderr }),
    (error: { code?: number; signal?: string; stdout?: string; stderr?: string }) => ({
      code: error.code ?? -1,
      signal: error.signal ?? null,
      stdout: error.stdout ?? '',
      stderr: error.stderr ?? '',
    }),
  );
}

/** A text of at most `tokens` tokens, within a few of it, and its exact token count. */
async function promptOf(tokens: number): Promise<{ text: string; count: number }> {
  const tokenizer = await loadTokenizer(defaultModelDirectory());
  const sentence = 'The river ran past the old mill and under the stone bridge to the sea. ';
  const countOf = (text: string) => tokenizer.encode(text).length;
  // Repeated sentences tokenize a little shorter than one alone: measure, then scale once.
  const sample = 200;
  const perSentence = (countOf(sentence.repeat(sample)) - 1) / sample;
  let sentences = Math.floor(tokens / perSentence);
  while (countOf(sentence.repeat(sentences)) > tokens) sentences--;
  while (countOf(sentence.repeat(sentences + 1)) <= tokens) sentences++;
  let text = sentence.repeat(sentences);
  // Then words, up to the limit.
  for (const word of sentence.split(' ')) {
    const longer = `${text}${word} `;
    if (countOf(longer) > tokens) break;
    text = longer;
  }
  return { text, count: countOf(text) };
}

describe.skipIf(!existsSync(bin))('prompts at and past the context length (built binary)', () => {
  it('runs a prompt that fills the context with its answer, with no signal death', async () => {
    const { text, count } = await promptOf(CONTEXT - 8);
    expect(text.length).toBeGreaterThan(20_000);
    const result = await duo(
      'generate',
      '--prompt',
      text,
      '--policy',
      'streaming',
      '--sink',
      '16',
      '--recent',
      '64',
      '--prefill-chunk',
      '512',
      '--max-new-tokens',
      String(CONTEXT - count),
      '--ignore-eos',
      '--json',
    );
    expect(result.signal, result.stderr).toBeNull();
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ promptTokens: count, truncatedTokens: 0 });
    expect(JSON.parse(result.stdout).tokens).toHaveLength(CONTEXT - count);
  });

  it('refuses a prompt past the context, or max-new-tokens past it, naming both numbers', async () => {
    const { text, count } = await promptOf(CONTEXT + 40);
    expect(count).toBeGreaterThan(CONTEXT);
    const past = await duo('generate', '--prompt', text, '--max-new-tokens', '1');
    expect(past.signal).toBeNull();
    expect(past.code).toBe(1);
    expect(past.stderr).toContain(`the prompt has ${count} tokens`);
    expect(past.stderr).toContain(`context is ${CONTEXT} tokens`);
    expect(past.stderr).not.toMatch(/\n\s+at /);
    const short = await promptOf(CONTEXT - 100);
    const tooMany = await duo('generate', '--prompt', short.text, '--max-new-tokens', '200');
    expect(tooMany.code).toBe(1);
    expect(tooMany.stderr).toContain(`${short.count} tokens and 200 new tokens were asked for`);
    const ids = Array.from({ length: CONTEXT + 1 }, (_, i) => (i * 7) % 2000).join(',');
    const scored = await duo('score', '--ids', ids, '--prefill-length', '4');
    expect(scored.code).toBe(1);
    expect(scored.stderr).toContain(
      `the id list has ${CONTEXT + 1} tokens, but the model's context is ${CONTEXT}`,
    );
  });

  it('truncates from the left when asked and says so', async () => {
    const { text, count } = await promptOf(CONTEXT + 40);
    const result = await duo(
      'generate',
      '--prompt',
      text,
      '--policy',
      'streaming',
      '--sink',
      '16',
      '--recent',
      '64',
      '--prefill-chunk',
      '1024',
      '--max-new-tokens',
      '2',
      '--truncate',
      'left',
      '--json',
    );
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      promptTokens: CONTEXT - 2,
      truncatedTokens: count - (CONTEXT - 2),
    });
    expect(result.stderr).toMatch(/truncated from the left/);
  });
});
