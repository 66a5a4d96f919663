import { describe, expect, it } from 'vitest';
import { DuoError } from '../errors.js';
import { expectedTensors, loadWeights, type TensorSource } from './load-weights.js';
import { ModelWeightsError } from './model-errors.js';
import type { ModelConfig } from './model-types.js';
import type { TensorInfo } from './safetensors.js';

const config: ModelConfig = {
  architecture: 'LlamaForCausalLM',
  modelType: 'llama',
  vocabSize: 10,
  hiddenSize: 8,
  intermediateSize: 12,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 2,
  rmsNormEps: 1e-5,
  maxPositionEmbeddings: 64,
  tieWordEmbeddings: false,
  attentionBias: false,
  mlpBias: false,
  rope: { type: 'default', theta: 10000 },
  hiddenAct: 'silu',
  eosTokenIds: [1],
  slidingWindow: null,
};

/** An in-memory checkpoint: each tensor filled with a value derived from its name. */
class FakeCheckpoint implements TensorSource {
  readonly directory = '/fake';
  readonly tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  reads: string[] = [];

  static complete(c: ModelConfig): FakeCheckpoint {
    const checkpoint = new FakeCheckpoint();
    for (const t of expectedTensors(c)) checkpoint.set(t.name, [...t.shape]);
    return checkpoint;
  }

  set(name: string, shape: number[]): void {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(this.tensors.size + 1);
    this.tensors.set(name, { shape, data });
  }
  has(name: string): boolean {
    return this.tensors.has(name);
  }
  info(name: string): TensorInfo {
    return { dtype: 'F32', shape: this.tensors.get(name)!.shape, file: '/fake/model.safetensors' };
  }
  async readFloat32(name: string): Promise<Float32Array> {
    this.reads.push(name);
    return this.tensors.get(name)!.data;
  }
}

async function weightsError(checkpoint: TensorSource, c: ModelConfig = config): Promise<ModelWeightsError> {
  try {
    await loadWeights(checkpoint, c);
  } catch (error) {
    if (error instanceof ModelWeightsError) return error;
    throw error;
  }
  throw new Error('expected a ModelWeightsError');
}

describe('expectedTensors', () => {
  it('lists HF names with shapes from the config', () => {
    const tensors = expectedTensors({ ...config, attentionBias: true, mlpBias: true });
    const byName = new Map(tensors.map((t) => [t.name, t.shape]));
    expect(byName.get('model.embed_tokens.weight')).toEqual([10, 8]);
    expect(byName.get('model.layers.1.self_attn.q_proj.weight')).toEqual([8, 8]);
    expect(byName.get('model.layers.1.self_attn.k_proj.weight')).toEqual([4, 8]);
    expect(byName.get('model.layers.1.self_attn.v_proj.bias')).toEqual([4]);
    expect(byName.get('model.layers.0.self_attn.o_proj.weight')).toEqual([8, 8]);
    expect(byName.get('model.layers.0.mlp.down_proj.weight')).toEqual([8, 12]);
    expect(byName.get('model.layers.0.mlp.up_proj.bias')).toEqual([12]);
    expect(byName.get('model.norm.weight')).toEqual([8]);
    expect(byName.get('lm_head.weight')).toEqual([10, 8]);
    expect(tensors.length).toBe(1 + 2 * 15 + 2);
    expect(
      expectedTensors({ ...config, tieWordEmbeddings: true }).some((t) => t.name === 'lm_head.weight'),
    ).toBe(false);
  });
});

describe('loadWeights', () => {
  it('maps every tensor onto ModelWeights, reporting progress', async () => {
    const checkpoint = FakeCheckpoint.complete(config);
    const progress: Array<[number, number]> = [];
    const weights = await loadWeights(checkpoint, config, {
      onProgress: (done, total) => progress.push([done, total]),
    });
    const data = (name: string) => checkpoint.tensors.get(name)!.data;
    expect(weights.embedTokens).toBe(data('model.embed_tokens.weight'));
    expect(weights.lmHead).toBe(data('lm_head.weight'));
    expect(weights.norm).toBe(data('model.norm.weight'));
    expect(weights.layers).toHaveLength(2);
    const layer = weights.layers[1]!;
    expect(layer.inputNorm).toBe(data('model.layers.1.input_layernorm.weight'));
    expect(layer.qProj).toBe(data('model.layers.1.self_attn.q_proj.weight'));
    expect(layer.kProj).toBe(data('model.layers.1.self_attn.k_proj.weight'));
    expect(layer.vProj).toBe(data('model.layers.1.self_attn.v_proj.weight'));
    expect(layer.oProj).toBe(data('model.layers.1.self_attn.o_proj.weight'));
    expect(layer.postAttentionNorm).toBe(data('model.layers.1.post_attention_layernorm.weight'));
    expect(layer.gateProj).toBe(data('model.layers.1.mlp.gate_proj.weight'));
    expect(layer.upProj).toBe(data('model.layers.1.mlp.up_proj.weight'));
    expect(layer.downProj).toBe(data('model.layers.1.mlp.down_proj.weight'));
    expect(layer.qBias).toBeUndefined();
    expect(progress).toHaveLength(21); // 1 + 2 layers * 9 + 2
    expect(progress.at(-1)).toEqual([21, 21]);
  });

  it('ties lm_head to the embeddings, ignoring a stored lm_head', async () => {
    const tied = { ...config, tieWordEmbeddings: true };
    const checkpoint = FakeCheckpoint.complete(tied);
    checkpoint.set('lm_head.weight', [10, 8]);
    const weights = await loadWeights(checkpoint, tied);
    expect(weights.lmHead).toBe(weights.embedTokens);
    expect(checkpoint.reads).not.toContain('lm_head.weight');
  });

  it('loads q/k/v and MLP biases when the config has them', async () => {
    const biased = { ...config, attentionBias: true, mlpBias: true };
    const checkpoint = FakeCheckpoint.complete(biased);
    const layer = (await loadWeights(checkpoint, biased)).layers[0]!;
    expect(layer.qBias).toBe(checkpoint.tensors.get('model.layers.0.self_attn.q_proj.bias')!.data);
    expect(layer.kBias?.length).toBe(4);
    expect(layer.vBias?.length).toBe(4);
    expect(layer.gateBias?.length).toBe(12);
    expect(layer.upBias?.length).toBe(12);
    expect(layer.downBias?.length).toBe(8);
  });

  describe('errors name the tensor', () => {
    it('missing tensor', async () => {
      const checkpoint = FakeCheckpoint.complete(config);
      checkpoint.tensors.delete('model.layers.1.mlp.up_proj.weight');
      const error = await weightsError(checkpoint);
      expect(error.code).toBe('E_MODEL_WEIGHTS');
      expect(error.tensor).toBe('model.layers.1.mlp.up_proj.weight');
      expect(error.message).toMatch(/^\/fake \(tensor "model\.layers\.1\.mlp\.up_proj\.weight"\): missing/);
      expect(checkpoint.reads).toEqual([]); // checked before reading anything
    });

    it('missing lm_head when embeddings are not tied', async () => {
      const checkpoint = FakeCheckpoint.complete(config);
      checkpoint.tensors.delete('lm_head.weight');
      const error = await weightsError(checkpoint);
      expect(error.tensor).toBe('lm_head.weight');
      expect(error.message).toMatch(/tie_word_embeddings is false/);
    });

    it('missing bias the config requires', async () => {
      const qwen = { ...config, architecture: 'Qwen2ForCausalLM' as const, attentionBias: true };
      const error = await weightsError(FakeCheckpoint.complete(config), qwen);
      expect(error.tensor).toBe('model.layers.0.self_attn.q_proj.bias');
    });

    it('shape mismatch, giving expected and actual shapes', async () => {
      const checkpoint = FakeCheckpoint.complete(config);
      checkpoint.set('model.layers.0.self_attn.k_proj.weight', [8, 8]);
      const error = await weightsError(checkpoint);
      expect(error.tensor).toBe('model.layers.0.self_attn.k_proj.weight');
      expect(error.file).toBe('/fake/model.safetensors');
      expect(error.message).toContain('shape [8, 8] does not match the config: expected [4, 8]');
      expect(error.message).toContain('num_key_value_heads*head_dim');
    });

    it('a transposed matrix is a mismatch too', async () => {
      const checkpoint = FakeCheckpoint.complete(config);
      checkpoint.set('model.layers.1.mlp.down_proj.weight', [12, 8]);
      expect((await weightsError(checkpoint)).message).toContain('expected [8, 12]');
    });

    it('a bias the config does not have', async () => {
      const checkpoint = FakeCheckpoint.complete(config);
      checkpoint.set('model.layers.1.self_attn.q_proj.bias', [8]);
      expect((await weightsError(checkpoint)).message).toMatch(/q_proj\.bias.*no attention biases/);
      const other = FakeCheckpoint.complete(config);
      other.set('model.layers.0.self_attn.o_proj.bias', [8]);
      expect((await weightsError(other)).message).toMatch(/o_proj biases are not supported/);
      const mlp = FakeCheckpoint.complete(config);
      mlp.set('model.layers.0.mlp.gate_proj.bias', [12]);
      expect((await weightsError(mlp)).message).toMatch(/mlp_bias/);
    });
  });

  it('stops when aborted, with the signal reason', async () => {
    const checkpoint = FakeCheckpoint.complete(config);
    const controller = new AbortController();
    const reason = new Error('user cancelled');
    const promise = loadWeights(checkpoint, config, {
      signal: controller.signal,
      onProgress: (done) => {
        if (done === 3) controller.abort(reason);
      },
    });
    await expect(promise).rejects.toBe(reason);
    expect(checkpoint.reads).toHaveLength(3);
    expect(DuoError.isInstance(reason)).toBe(false);
  });
});
