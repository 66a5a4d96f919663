// `duo info`: what a model is and what its KV cache costs under a policy. Reads config.json only
// (no weights), so it is instant even for large checkpoints.
import {
  KV_CACHE_DTYPES,
  type KvCacheDtype,
  planMemory,
  planTensorParallel,
  readModelConfig,
  weightDtypeFromConfig,
} from '@duo-attn/core';
import { hasQuantizationConfig } from '@duo-attn/quant';
import { numberOption, parseCommandArgs, stringOption, UsageError } from '../cli-args.js';
import { type CliIo, formatBytes, formatTable, printJson } from '../cli-io.js';
import { MODEL_OPTIONS, modelDirectory, QUANT_OPTIONS, weightsOption } from '../model-options.js';
import { POLICY_OPTIONS, POLICY_USAGE, policyFromArgs } from '../policy-options.js';

export const INFO_USAGE = `Usage: duo info --model DIR [policy options] [--kv-dtype fp32|bf16|fp16|int4] [--weights float|w8a8]
         [--memory GiB] [--tensor-parallel N] [--json]

Architecture summary, parameter count, KV bytes per token (full attention vs the policy) and, with
--memory, how many tokens of context fit in that much memory after the weights. The KV cache is
counted in --kv-dtype (default: the checkpoint's dtype, fp32 when the config states none); weights
as int8 with fp16 scales for --weights w8a8 or a checkpoint written by \`duo quantize\`. With
--tensor-parallel N (default 1: one GPU), what each of N GPUs holds: its KV heads (retrieval heads dealt
out so every GPU has the same number over all layers), weights and KV bytes, and with --memory (per GPU)
the context the N GPUs fit together.

${POLICY_USAGE}`;

export async function runInfo(argv: readonly string[], io: CliIo): Promise<void> {
  const args = parseCommandArgs(
    argv,
    {
      ...MODEL_OPTIONS,
      ...QUANT_OPTIONS,
      ...POLICY_OPTIONS,
      'kv-dtype': { type: 'string' },
      memory: { type: 'string' },
      'tensor-parallel': { type: 'string' },
      json: { type: 'boolean' },
    },
    INFO_USAGE,
  );
  const config = await readModelConfig(modelDirectory(args));
  const resolved = await policyFromArgs(args, config);
  // Configs that do not state a dtype are float32 checkpoints (HF's default).
  const w8a8 = weightsOption(args) === 'w8a8' || (await hasQuantizationConfig(modelDirectory(args)));
  const weightDtype = w8a8 ? 'int8' : (weightDtypeFromConfig(config) ?? 'fp32');
  const kvDtype = stringOption(args, 'kv-dtype') ?? (weightDtype === 'int8' ? 'fp16' : weightDtype);
  if (!KV_CACHE_DTYPES.includes(kvDtype as KvCacheDtype)) {
    throw new UsageError(`--kv-dtype must be one of ${KV_CACHE_DTYPES.join(', ')}, got "${kvDtype}"`);
  }
  const policy = { ...resolved.policy, cacheDtype: kvDtype as KvCacheDtype };
  const { description } = resolved;
  const memoryGiB = numberOption(args, 'memory', { min: 0 });
  const plan = planMemory(config, policy, {
    weightDtype,
    ...(memoryGiB !== undefined ? { memoryBytes: memoryGiB * 2 ** 30 } : {}),
  });
  const worldSize = numberOption(args, 'tensor-parallel', { min: 1, integer: true }) ?? 1;
  const parallel =
    worldSize > 1
      ? planTensorParallel(config, policy, {
          worldSize,
          weightDtype,
          ...(memoryGiB !== undefined ? { memoryBytesPerGpu: memoryGiB * 2 ** 30 } : {}),
        })
      : undefined;
  if (args.values.json) {
    printJson(io, {
      config,
      policy: { description, ...policy },
      memory: plan,
      ...(parallel === undefined ? {} : { tensorParallel: parallel }),
    });
    return;
  }
  const capacity = (tokens: number | null | undefined) =>
    tokens === undefined ? '' : tokens === null ? 'unbounded' : `${tokens.toLocaleString('en-US')} tokens`;
  io.stdout(
    formatTable([
      ['architecture', `${config.architecture} (${config.modelType})`],
      ['layers', String(config.numLayers)],
      ['heads (query / KV)', `${config.numHeads} / ${config.numKvHeads} (head dim ${config.headDim})`],
      ['hidden / MLP', `${config.hiddenSize} / ${config.intermediateSize}`],
      ['vocabulary', String(config.vocabSize)],
      [
        'RoPE',
        `${config.rope.type}, theta ${config.rope.theta}${config.rope.factor ? `, factor ${config.rope.factor}` : ''}`,
      ],
      ['tied embeddings', config.tieWordEmbeddings ? 'yes' : 'no'],
      [
        'parameters',
        `${plan.parameterCount.toLocaleString('en-US')} (${formatBytes(plan.weightBytes)} as ${plan.weightDtype})`,
      ],
      ['policy', description],
      [`KV bytes/token, full attention (${plan.cacheDtype})`, formatBytes(plan.full.kvBytesPerToken)],
      [
        'KV bytes/token, this policy',
        `${formatBytes(plan.policy.kvBytesPerToken)} (${plan.kvBytesPerTokenRatio.toFixed(3)}x)`,
      ],
      ['streaming heads, constant', formatBytes(plan.policy.streamingKvBytes)],
      ...(memoryGiB !== undefined
        ? [
            [`capacity in ${memoryGiB} GiB, full`, capacity(plan.full.capacityTokens)],
            [`capacity in ${memoryGiB} GiB, this policy`, capacity(plan.policy.capacityTokens)],
          ]
        : []),
    ]),
  );
  if (parallel === undefined) return;
  io.stdout(
    `\ntensor parallel over ${worldSize} GPUs (KV heads per layer: ${config.numKvHeads / worldSize} each)\n`,
  );
  io.stdout(
    formatTable([
      [
        'GPU',
        'retrieval KV heads',
        'weights',
        'KV bytes/token',
        'streaming, constant',
        ...(memoryGiB !== undefined ? [`capacity in ${memoryGiB} GiB`] : []),
      ],
      ...parallel.ranks.map((rank) => [
        String(rank.rank),
        String(rank.retrievalKvHeads),
        formatBytes(rank.weightBytes),
        formatBytes(rank.kvBytesPerToken),
        formatBytes(rank.streamingKvBytes),
        ...(memoryGiB !== undefined ? [capacity(rank.capacityTokens)] : []),
      ]),
    ]),
  );
  if (memoryGiB !== undefined)
    io.stdout(`context the ${worldSize} GPUs fit together: ${capacity(parallel.capacityTokens)}\n`);
}
