// Maps a checkpoint's HF tensor names onto ModelWeights and checks every shape against the config
// before reading anything, so a mismatched checkpoint fails in milliseconds, not after gigabytes.
import { ModelWeightsError } from './model-errors.js';
import type { LayerWeights, ModelConfig, ModelWeights } from './model-types.js';
import type { TensorInfo } from './safetensors.js';

/** What {@link loadWeights} needs from a checkpoint; {@link SafetensorsCheckpoint} provides it. */
export interface TensorSource {
  /** Used in errors about tensors that are not there. */
  readonly directory: string;
  has(name: string): boolean;
  info(name: string): TensorInfo;
  readFloat32(name: string): Promise<Float32Array>;
}

/** Options of {@link loadWeights}. */
export interface LoadWeightsOptions {
  /** Checked before each tensor read; aborting rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Called after each tensor is read, with tensors read so far and in total. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** One tensor the config requires, with the shape it must have. */
export interface ExpectedTensor {
  /** HF name, e.g. `model.layers.0.self_attn.q_proj.weight`. */
  readonly name: string;
  readonly shape: readonly number[];
  /** How the shape follows from the config, for error messages, e.g. `[num_heads*head_dim, hidden_size]`. */
  readonly derivation: string;
}

type LayerField = keyof LayerWeights;

interface PlannedTensor extends ExpectedTensor {
  /** Layer index and field, or a top-level field. */
  readonly target: { layer: number; field: LayerField } | { field: 'embedTokens' | 'norm' | 'lmHead' };
}

/**
 * The tensors a config requires, in load order: embeddings, each layer, final norm, and `lm_head`
 * unless embeddings are tied.
 */
export function expectedTensors(config: ModelConfig): ExpectedTensor[] {
  return plan(config).map(({ name, shape, derivation }) => ({ name, shape, derivation }));
}

/**
 * Reads every weight the config requires as float32, checking names and shapes first. With tied
 * embeddings `lmHead` is the same array as `embedTokens` and any `lm_head.weight` is ignored, as in
 * transformers. Tensors the config has no place for are ignored too, except biases of projections
 * the config says have none (and any o_proj bias): loading without them would silently change the
 * model's outputs, so they are an error.
 *
 * @throws ModelWeightsError naming the tensor: missing, wrong shape, or an unexpected bias;
 *   checkpoint errors from reading (UnsupportedDtypeError, SafetensorsFormatError); the signal's
 *   reason when aborted.
 */
export async function loadWeights(
  checkpoint: TensorSource,
  config: ModelConfig,
  options: LoadWeightsOptions = {},
): Promise<ModelWeights> {
  const tensors = plan(config);
  for (const tensor of tensors) checkTensor(checkpoint, tensor);
  checkUnexpectedBiases(checkpoint, config);

  let embedTokens: Float32Array | undefined;
  let norm: Float32Array | undefined;
  let lmHead: Float32Array | undefined;
  const layers: Partial<Record<LayerField, Float32Array>>[] = Array.from(
    { length: config.numLayers },
    () => ({}),
  );
  let done = 0;
  for (const tensor of tensors) {
    options.signal?.throwIfAborted();
    const data = await checkpoint.readFloat32(tensor.name);
    const target = tensor.target;
    if ('layer' in target) layers[target.layer]![target.field] = data;
    else if (target.field === 'embedTokens') embedTokens = data;
    else if (target.field === 'norm') norm = data;
    else lmHead = data;
    done += 1;
    options.onProgress?.(done, tensors.length);
  }
  options.signal?.throwIfAborted();
  return {
    embedTokens: embedTokens!,
    layers: layers as unknown as LayerWeights[],
    norm: norm!,
    lmHead: config.tieWordEmbeddings ? embedTokens! : lmHead!,
  };
}

function plan(config: ModelConfig): PlannedTensor[] {
  const { hiddenSize: h, intermediateSize: m, numHeads, numKvHeads, headDim: d, vocabSize: v } = config;
  const q = numHeads * d;
  const kv = numKvHeads * d;
  const tensors: PlannedTensor[] = [
    {
      name: 'model.embed_tokens.weight',
      shape: [v, h],
      derivation: '[vocab_size, hidden_size]',
      target: { field: 'embedTokens' },
    },
  ];
  for (let layer = 0; layer < config.numLayers; layer++) {
    const prefix = `model.layers.${layer}`;
    const add = (suffix: string, field: LayerField, shape: number[], derivation: string): void => {
      tensors.push({ name: `${prefix}.${suffix}`, shape, derivation, target: { layer, field } });
    };
    add('input_layernorm.weight', 'inputNorm', [h], '[hidden_size]');
    add('self_attn.q_proj.weight', 'qProj', [q, h], '[num_attention_heads*head_dim, hidden_size]');
    add('self_attn.k_proj.weight', 'kProj', [kv, h], '[num_key_value_heads*head_dim, hidden_size]');
    add('self_attn.v_proj.weight', 'vProj', [kv, h], '[num_key_value_heads*head_dim, hidden_size]');
    add('self_attn.o_proj.weight', 'oProj', [h, q], '[hidden_size, num_attention_heads*head_dim]');
    if (config.attentionBias) {
      add('self_attn.q_proj.bias', 'qBias', [q], '[num_attention_heads*head_dim]');
      add('self_attn.k_proj.bias', 'kBias', [kv], '[num_key_value_heads*head_dim]');
      add('self_attn.v_proj.bias', 'vBias', [kv], '[num_key_value_heads*head_dim]');
    }
    add('post_attention_layernorm.weight', 'postAttentionNorm', [h], '[hidden_size]');
    add('mlp.gate_proj.weight', 'gateProj', [m, h], '[intermediate_size, hidden_size]');
    add('mlp.up_proj.weight', 'upProj', [m, h], '[intermediate_size, hidden_size]');
    add('mlp.down_proj.weight', 'downProj', [h, m], '[hidden_size, intermediate_size]');
    if (config.mlpBias) {
      add('mlp.gate_proj.bias', 'gateBias', [m], '[intermediate_size]');
      add('mlp.up_proj.bias', 'upBias', [m], '[intermediate_size]');
      add('mlp.down_proj.bias', 'downBias', [h], '[hidden_size]');
    }
  }
  tensors.push({
    name: 'model.norm.weight',
    shape: [h],
    derivation: '[hidden_size]',
    target: { field: 'norm' },
  });
  if (!config.tieWordEmbeddings) {
    tensors.push({
      name: 'lm_head.weight',
      shape: [v, h],
      derivation: '[vocab_size, hidden_size]',
      target: { field: 'lmHead' },
    });
  }
  return tensors;
}

function checkTensor(checkpoint: TensorSource, tensor: ExpectedTensor): void {
  if (!checkpoint.has(tensor.name)) {
    const why =
      tensor.name === 'lm_head.weight'
        ? 'missing from the checkpoint, and tie_word_embeddings is false so embeddings cannot stand in'
        : 'missing from the checkpoint';
    throw new ModelWeightsError(checkpoint.directory, tensor.name, why);
  }
  const info = checkpoint.info(tensor.name);
  const same = info.shape.length === tensor.shape.length && info.shape.every((d, i) => d === tensor.shape[i]);
  if (!same) {
    throw new ModelWeightsError(
      info.file,
      tensor.name,
      `shape [${info.shape.join(', ')}] does not match the config: expected [${tensor.shape.join(', ')}] = ${tensor.derivation}`,
    );
  }
}

function checkUnexpectedBiases(checkpoint: TensorSource, config: ModelConfig): void {
  for (let layer = 0; layer < config.numLayers; layer++) {
    const prefix = `model.layers.${layer}`;
    const unexpected: Array<[string, string]> = [
      [`${prefix}.self_attn.o_proj.bias`, 'o_proj biases are not supported'],
    ];
    if (!config.attentionBias) {
      for (const p of ['q', 'k', 'v']) {
        unexpected.push([
          `${prefix}.self_attn.${p}_proj.bias`,
          'the config has no attention biases (attention_bias)',
        ]);
      }
    }
    if (!config.mlpBias) {
      for (const p of ['gate', 'up', 'down']) {
        unexpected.push([`${prefix}.mlp.${p}_proj.bias`, 'the config has no MLP biases (mlp_bias)']);
      }
    }
    for (const [name, why] of unexpected) {
      if (checkpoint.has(name)) {
        throw new ModelWeightsError(checkpoint.info(name).file, name, `present in the checkpoint but ${why}`);
      }
    }
  }
}
