// `duo generate`: stream a completion to stdout under any KV-cache policy and backend.
import { ContextLengthError, DEFAULT_MAX_NEW_TOKENS, generationDefaults } from '@duo-attn/core';
import { createLanguageModel, type GenerationOptions } from '@duo-attn/llm';
import { numberOption, parseCommandArgs, stringOption, UsageError } from '../cli-args.js';
import { type CliIo, printJson } from '../cli-io.js';
import { parseIdList } from '../id-list.js';
import { InterruptedError } from '../interrupted.js';
import {
  kvDtypeOption,
  MODEL_OPTIONS,
  openModel,
  openTokenizer,
  openTokenizerIfPresent,
  QUANT_OPTIONS,
  QUANT_USAGE,
} from '../model-options.js';
import { POLICY_OPTIONS, POLICY_USAGE, policyFromArgs } from '../policy-options.js';

export const GENERATE_USAGE = `Usage: duo generate --model DIR [--backend NAME] [policy options] [--prefill-chunk N]
         (--prompt TEXT | --prompt-ids 1,2,3 | --chat --prompt TEXT [--system TEXT])
         [--max-new-tokens N] [--greedy | --temperature T [--top-k K] [--top-p P] [--seed N]]
         [--repetition-penalty X] [--stop TEXT]... [--ignore-eos] [--truncate left|middle]
         [--context-length N] [--json]

Streams the completion to stdout (with --json: one object with tokens, text and timing). Decoding
follows the model's generation_config.json (greedy unless it sets do_sample, then its temperature,
top_k and top_p) unless --greedy, or --temperature/--top-k/--top-p (which ask for sampling) are given.
Generation stops at the model's end-of-sequence tokens (generation_config.json, config.json and the
tokenizer's; unless --ignore-eos), at any --stop string (not printed), or after --max-new-tokens
(default: generation_config.json's max_new_tokens, else ${DEFAULT_MAX_NEW_TOKENS}). The prompt is fed
in one chunk unless --prefill-chunk N. Without a tokenizer.json in the model directory, --prompt-ids
still works and the generated ids are printed.

The prompt plus --max-new-tokens must fit the model's context (max_position_embeddings), or the command
is refused; --truncate left drops the prompt's first tokens to fit, --truncate middle its middle ones.
--context-length N allows N positions instead (to extrapolate on purpose, e.g. with RoPE scaling).

${POLICY_USAGE}
${QUANT_USAGE}`;

export async function runGenerate(argv: readonly string[], io: CliIo, signal?: AbortSignal): Promise<void> {
  const args = parseCommandArgs(
    argv,
    {
      ...MODEL_OPTIONS,
      ...QUANT_OPTIONS,
      ...POLICY_OPTIONS,
      prompt: { type: 'string' },
      'prompt-ids': { type: 'string' },
      chat: { type: 'boolean' },
      system: { type: 'string' },
      'prefill-chunk': { type: 'string' },
      'max-new-tokens': { type: 'string' },
      greedy: { type: 'boolean' },
      temperature: { type: 'string' },
      'top-k': { type: 'string' },
      'top-p': { type: 'string' },
      'repetition-penalty': { type: 'string' },
      seed: { type: 'string' },
      stop: { type: 'string', multiple: true },
      'ignore-eos': { type: 'boolean' },
      truncate: { type: 'string' },
      'context-length': { type: 'string' },
      json: { type: 'boolean' },
    },
    GENERATE_USAGE,
  );
  const prompt = stringOption(args, 'prompt');
  const promptIdsText = stringOption(args, 'prompt-ids');
  if ((prompt === undefined) === (promptIdsText === undefined)) {
    throw new UsageError('give exactly one of --prompt TEXT or --prompt-ids 1,2,3', GENERATE_USAGE);
  }
  if (args.values.chat && prompt === undefined) throw new UsageError('--chat needs --prompt TEXT');
  if (stringOption(args, 'system') !== undefined && !args.values.chat)
    throw new UsageError('--system needs --chat');
  const maxNewTokensOption = numberOption(args, 'max-new-tokens', { integer: true, min: 1 });
  const prefillChunkSize = numberOption(args, 'prefill-chunk', { integer: true, min: 1 });
  const sampling = {
    temperature: numberOption(args, 'temperature', { min: 0 }),
    topK: numberOption(args, 'top-k', { integer: true, min: 0 }),
    topP: numberOption(args, 'top-p', { min: 0, max: 1 }),
    repetitionPenalty: numberOption(args, 'repetition-penalty', { min: 0 }),
    seed: numberOption(args, 'seed', { integer: true, min: 0, max: 0xffffffff }),
  };
  const asksToSample =
    sampling.temperature !== undefined || sampling.topK !== undefined || sampling.topP !== undefined;
  if (args.values.greedy && asksToSample && (sampling.temperature ?? 1) > 0)
    throw new UsageError('--greedy contradicts --temperature/--top-k/--top-p');

  const truncate = stringOption(args, 'truncate');
  if (truncate !== undefined && truncate !== 'left' && truncate !== 'middle') {
    throw new UsageError(`--truncate must be left or middle, got "${truncate}"`);
  }
  const contextLength = numberOption(args, 'context-length', { integer: true, min: 1 });
  const stopStrings = (args.values.stop as string[] | undefined) ?? [];
  const model = await openModel(args, io);
  // Token ids in and out need no tokenizer: it is loaded only where text is asked for.
  const tokenizer =
    promptIdsText !== undefined && stopStrings.length === 0
      ? await openTokenizerIfPresent(args)
      : await openTokenizer(args);
  let promptIds: number[];
  if (promptIdsText !== undefined) {
    promptIds = parseIdList(promptIdsText, '--prompt-ids');
  } else if (args.values.chat) {
    const system = stringOption(args, 'system');
    const messages = [
      ...(system !== undefined ? [{ role: 'system', content: system }] : []),
      { role: 'user', content: prompt! },
    ];
    // The template already places BOS and other special tokens.
    promptIds = tokenizer!.encode(tokenizer!.applyChatTemplate(messages, { addGenerationPrompt: true }), {
      addSpecialTokens: false,
    });
  } else {
    promptIds = tokenizer!.encode(prompt!);
  }
  const { policy, description } = await policyFromArgs(args, model.config);
  const maxNewTokens = maxNewTokensOption ?? generationDefaults(model.generationConfig).maxNewTokens;
  // Refused before any backend starts: the prompt must fit the context (or be truncated to).
  const limit = contextLength ?? model.config.maxPositionEmbeddings;
  if (promptIds.length + maxNewTokens > limit && truncate === undefined) {
    throw new ContextLengthError(promptIds.length, maxNewTokens, limit);
  }
  const fed = Math.min(promptIds.length, Math.max(1, limit - maxNewTokens));
  const backendName = stringOption(args, 'backend');
  // The library entry point does the rest: backend, cache dtype, end-of-sequence ids, sampling defaults.
  const kvDtype = kvDtypeOption(args);
  const llm = await createLanguageModel(model, {
    ...(backendName !== undefined ? { backend: backendName } : {}),
    ...(tokenizer !== undefined ? { tokenizer } : {}),
    policy: kvDtype === undefined ? policy : { ...policy, cacheDtype: kvDtype },
    policyDescription: description,
    maxTokens: fed + maxNewTokens,
    ...(contextLength !== undefined ? { contextLength } : {}),
  });
  if (kvDtype !== undefined && llm.policy.cacheDtype !== kvDtype) {
    // The library falls back to the backend's own cache dtype; an explicit --kv-dtype must not.
    await llm.dispose();
    throw new UsageError(
      `--kv-dtype ${kvDtype}: the ${llm.backendName} backend keeps ${llm.policy.cacheDtype} KV caches (int4 runs on --backend reference)`,
    );
  }
  const cut = promptIds.length - fed;
  io.stderr(
    `${llm.backendName} backend, ${description}, prompt ${promptIds.length} tokens${cut > 0 ? ` (${cut} truncated from the ${truncate}: ${fed} fed)` : ''}\n`,
  );
  const options: GenerationOptions = {
    maxNewTokens,
    ...(args.values.greedy ? { greedy: true } : {}),
    ...definedOnly(sampling),
    stopStrings,
    ...(args.values['ignore-eos'] ? { ignoreEos: true } : {}),
    ...(prefillChunkSize !== undefined ? { prefillChunkSize } : {}),
    ...(signal !== undefined ? { signal } : {}),
    ...(truncate !== undefined ? { truncate } : {}),
  };
  try {
    const stream = llm.stream(promptIds, options);
    for await (const token of stream) {
      // Without a tokenizer the output is the generated ids, one per line.
      if (!args.values.json) io.stdout(tokenizer !== undefined ? token.text : `${token.id}\n`);
    }
    const result = await stream.result;
    if (args.values.json) {
      printJson(io, {
        tokens: result.tokens,
        text: tokenizer !== undefined ? result.text : null,
        finishReason: result.finishReason,
        promptTokens: result.promptTokens,
        truncatedTokens: result.truncatedTokens,
        prefillMs: result.prefillMs,
        decodeMs: result.decodeMs,
        backend: llm.backendName,
        policy: description,
      });
    } else {
      if (tokenizer !== undefined) io.stdout('\n');
      const perToken = result.tokens.length > 0 ? result.decodeMs / result.tokens.length : 0;
      io.stderr(
        `[${result.tokens.length} tokens, ${result.finishReason}; prefill ${result.prefillMs.toFixed(0)} ms, decode ${perToken.toFixed(1)} ms/token]\n`,
      );
    }
    // What was generated is printed; the exit code still says the run was cut short.
    if (result.finishReason === 'aborted') {
      throw new InterruptedError(`generation interrupted after ${result.tokens.length} tokens`);
    }
  } finally {
    await llm.dispose();
  }
}

function definedOnly<T extends Record<string, unknown>>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
