import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuoError } from '../errors.js';
import { parseModelConfig, readModelConfig } from './model-config.js';
import { ModelConfigError } from './model-errors.js';

const llama = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  vocab_size: 320,
  hidden_size: 64,
  intermediate_size: 128,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  rms_norm_eps: 1e-5,
  max_position_embeddings: 256,
};

function configError(json: unknown, file = 'config.json'): ModelConfigError {
  try {
    parseModelConfig(json, file);
  } catch (error) {
    if (error instanceof ModelConfigError) return error;
    throw error;
  }
  throw new Error('expected a ModelConfigError');
}

describe('parseModelConfig', () => {
  it('applies transformers defaults', () => {
    const config = parseModelConfig(llama, 'config.json');
    expect(config).toEqual({
      architecture: 'LlamaForCausalLM',
      modelType: 'llama',
      vocabSize: 320,
      hiddenSize: 64,
      intermediateSize: 128,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 4,
      headDim: 16,
      rmsNormEps: 1e-5,
      maxPositionEmbeddings: 256,
      tieWordEmbeddings: false,
      attentionBias: false,
      mlpBias: false,
      rope: { type: 'default', theta: 10000 },
      hiddenAct: 'silu',
      eosTokenIds: [],
      slidingWindow: null,
    });
  });

  it('reads explicit values', () => {
    const config = parseModelConfig(
      {
        ...llama,
        num_key_value_heads: 2,
        head_dim: 32,
        tie_word_embeddings: true,
        mlp_bias: true,
        bos_token_id: 0,
        eos_token_id: [1, 5, 1],
        dtype: 'bfloat16',
        rope_theta: 500000.0,
      },
      'config.json',
    );
    expect(config.numKvHeads).toBe(2);
    expect(config.headDim).toBe(32);
    expect(config.tieWordEmbeddings).toBe(true);
    expect(config.mlpBias).toBe(true);
    expect(config.bosTokenId).toBe(0);
    expect(config.eosTokenIds).toEqual([1, 5]);
    expect(config.torchDtype).toBe('bfloat16');
    expect(config.rope).toEqual({ type: 'default', theta: 500000 });
    expect(parseModelConfig({ ...llama, eos_token_id: 7, torch_dtype: 'float16' }, 'c').eosTokenIds).toEqual([
      7,
    ]);
    expect(parseModelConfig({ ...llama, torch_dtype: 'float16' }, 'c').torchDtype).toBe('float16');
    expect(parseModelConfig({ ...llama, head_dim: null, num_key_value_heads: null }, 'c').headDim).toBe(16);
  });

  it('infers the architecture from model_type when architectures is absent', () => {
    const { architectures: _, ...noArchitectures } = llama;
    expect(parseModelConfig({ ...noArchitectures, model_type: 'qwen2' }, 'c').architecture).toBe(
      'Qwen2ForCausalLM',
    );
  });

  it('gives Qwen2 q/k/v biases and reads Mistral sliding windows', () => {
    const qwen = parseModelConfig(
      { ...llama, architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2' },
      'c',
    );
    expect(qwen.attentionBias).toBe(true);
    expect(qwen.mlpBias).toBe(false);
    expect(qwen.slidingWindow).toBeNull();
    expect(
      parseModelConfig(
        { ...llama, architectures: ['Qwen2ForCausalLM'], use_sliding_window: false, sliding_window: 4096 },
        'c',
      ).slidingWindow,
    ).toBeNull();

    const mistral = { ...llama, architectures: ['MistralForCausalLM'], model_type: 'mistral' };
    expect(parseModelConfig({ ...mistral, sliding_window: 4096 }, 'c').slidingWindow).toBe(4096);
    expect(parseModelConfig({ ...mistral, sliding_window: null }, 'c').slidingWindow).toBeNull();
    expect(parseModelConfig(mistral, 'c').slidingWindow).toBeNull();
    expect(parseModelConfig({ ...mistral, attention_bias: true, mlp_bias: true }, 'c')).toMatchObject({
      attentionBias: false,
      mlpBias: false,
    });
    // Llama has no sliding window, whatever the config says.
    expect(parseModelConfig({ ...llama, sliding_window: 128 }, 'c').slidingWindow).toBeNull();
  });

  describe('RoPE: both config styles give the same RopeConfig', () => {
    const styles: Array<[string, Record<string, unknown>, Record<string, unknown>, unknown]> = [
      [
        'default',
        { rope_theta: 1e6, rope_scaling: null },
        { rope_parameters: { rope_type: 'default', rope_theta: 1e6 } },
        { type: 'default', theta: 1e6 },
      ],
      [
        'linear (old "type" key)',
        { rope_theta: 1e4, rope_scaling: { type: 'linear', factor: 2.0 } },
        { rope_parameters: { rope_type: 'linear', rope_theta: 1e4, factor: 2.0 } },
        { type: 'linear', theta: 1e4, factor: 2 },
      ],
      [
        'dynamic',
        { rope_theta: 1e4, rope_scaling: { rope_type: 'dynamic', factor: 4.0 } },
        { rope_parameters: { rope_type: 'dynamic', rope_theta: 1e4, factor: 4.0 } },
        { type: 'dynamic', theta: 1e4, factor: 4, originalMaxPositionEmbeddings: 256 },
      ],
      [
        'llama3',
        {
          rope_theta: 500000.0,
          rope_scaling: {
            rope_type: 'llama3',
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 32,
          },
        },
        {
          rope_parameters: {
            rope_type: 'llama3',
            rope_theta: 500000.0,
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 32,
          },
        },
        {
          type: 'llama3',
          theta: 500000,
          factor: 8,
          originalMaxPositionEmbeddings: 32,
          lowFreqFactor: 1,
          highFreqFactor: 4,
        },
      ],
      [
        'yarn',
        {
          rope_theta: 1e6,
          rope_scaling: { type: 'yarn', factor: 4.0, original_max_position_embeddings: 64, mscale: 0.8 },
        },
        {
          rope_parameters: {
            rope_type: 'yarn',
            rope_theta: 1e6,
            factor: 4.0,
            original_max_position_embeddings: 64,
            mscale: 0.8,
          },
        },
        {
          type: 'yarn',
          theta: 1e6,
          factor: 4,
          originalMaxPositionEmbeddings: 64,
          betaFast: 32,
          betaSlow: 1,
          mscale: 0.8,
          truncate: true,
        },
      ],
    ];
    it.each(styles)('%s', (_name, old, current, expected) => {
      const a = parseModelConfig({ ...llama, ...old }, 'old.json');
      const b = parseModelConfig({ ...llama, ...current }, 'new.json');
      expect(a.rope).toEqual(expected);
      expect(b.rope).toEqual(expected);
    });

    it('follows transformers precedence and defaults', () => {
      // rope_scaling wins over rope_parameters; an empty rope_scaling does not count.
      expect(
        parseModelConfig(
          {
            ...llama,
            rope_scaling: { type: 'linear', factor: 2 },
            rope_parameters: { rope_type: 'default' },
          },
          'c',
        ).rope.type,
      ).toBe('linear');
      expect(
        parseModelConfig(
          { ...llama, rope_scaling: {}, rope_parameters: { rope_type: 'linear', factor: 3 } },
          'c',
        ).rope,
      ).toEqual({ type: 'linear', theta: 10000, factor: 3 });
      // θ from the dict wins over the top-level key.
      expect(
        parseModelConfig({ ...llama, rope_theta: 5, rope_parameters: { rope_theta: 7 } }, 'c').rope.theta,
      ).toBe(7);
      // llama3/yarn without original_max_position_embeddings use max_position_embeddings.
      const yarn = parseModelConfig(
        { ...llama, rope_parameters: { rope_type: 'yarn', factor: 2, beta_fast: 0 } },
        'c',
      ).rope;
      expect(yarn.originalMaxPositionEmbeddings).toBe(256);
      expect(yarn.betaFast).toBe(32);
      // A top-level original_max_position_embeddings wins (transformers' Phi-3 exception).
      expect(
        parseModelConfig(
          {
            ...llama,
            original_max_position_embeddings: 128,
            rope_parameters: { rope_type: 'yarn', factor: 2, original_max_position_embeddings: 64 },
          },
          'c',
        ).rope.originalMaxPositionEmbeddings,
      ).toBe(128);
    });
  });

  describe('errors name the file and key', () => {
    const cases: Array<[string, unknown, string | undefined, RegExp]> = [
      ['not an object', [1, 2], undefined, /JSON object/],
      [
        'unsupported architecture',
        { ...llama, architectures: ['GPT2LMHeadModel'] },
        'architectures',
        /GPT2LMHeadModel.*LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM/,
      ],
      [
        'no architecture at all',
        { ...llama, architectures: undefined, model_type: 'gpt2' },
        'architectures',
        /supported/,
      ],
      ['missing required key', { ...llama, vocab_size: undefined }, 'vocab_size', /missing required key/],
      ['null required key', { ...llama, hidden_size: null }, 'hidden_size', /missing required key/],
      ['wrong type', { ...llama, num_hidden_layers: '2' }, 'num_hidden_layers', /positive integer, got "2"/],
      ['not an integer', { ...llama, intermediate_size: 12.5 }, 'intermediate_size', /positive integer/],
      ['negative', { ...llama, rms_norm_eps: -1 }, 'rms_norm_eps', /positive number/],
      ['heads not divisible', { ...llama, num_key_value_heads: 3 }, 'num_key_value_heads', /not divisible/],
      ['odd head_dim', { ...llama, head_dim: 15 }, 'head_dim', /even/],
      [
        'unsupported rope type',
        { ...llama, rope_scaling: { type: 'longrope', factor: 2 } },
        'rope_scaling.rope_type',
        /longrope.*default, linear, dynamic, llama3, yarn/,
      ],
      [
        'rope factor missing',
        { ...llama, rope_parameters: { rope_type: 'linear' } },
        'rope_parameters.factor',
        /missing/,
      ],
      [
        'llama3 key missing',
        { ...llama, rope_parameters: { rope_type: 'llama3', factor: 8, low_freq_factor: 1 } },
        'rope_parameters.high_freq_factor',
        /missing/,
      ],
      [
        'llama3 factors reversed',
        {
          ...llama,
          rope_parameters: { rope_type: 'llama3', factor: 8, low_freq_factor: 4, high_freq_factor: 1 },
        },
        'rope_parameters.high_freq_factor',
        /greater/,
      ],
      [
        'per-layer rope',
        { ...llama, rope_parameters: { full_attention: { rope_type: 'default' } } },
        'rope_parameters.full_attention',
        /per-layer/,
      ],
      ['partial rope', { ...llama, partial_rotary_factor: 0.5 }, 'partial_rotary_factor', /not supported/],
      ['hidden_act not silu', { ...llama, hidden_act: 'gelu' }, 'hidden_act', /only "silu"/],
      ['llama attention bias', { ...llama, attention_bias: true }, 'attention_bias', /o_proj/],
      [
        'qwen2 sliding window',
        { ...llama, architectures: ['Qwen2ForCausalLM'], use_sliding_window: true },
        'use_sliding_window',
        /not supported/,
      ],
      ['bad eos', { ...llama, eos_token_id: [1, 'x'] }, 'eos_token_id', /token id/],
      ['bad tie', { ...llama, tie_word_embeddings: 'yes' }, 'tie_word_embeddings', /true or false/],
    ];
    it.each(cases)('%s', (_name, json, key, message) => {
      const error = configError(json, '/models/m/config.json');
      expect(DuoError.isInstance(error)).toBe(true);
      expect(error.code).toBe('E_MODEL_CONFIG');
      expect(error.file).toBe('/models/m/config.json');
      expect(error.key).toBe(key);
      expect(error.message).toContain('/models/m/config.json');
      if (key !== undefined) expect(error.message).toContain(`"${key}"`);
      expect(error.message).toMatch(message);
    });
  });
});

describe('readModelConfig', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'duo-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads config.json from a directory', async () => {
    const model = join(dir, 'ok');
    await mkdir(model);
    await writeFile(join(model, 'config.json'), JSON.stringify(llama));
    expect((await readModelConfig(model)).hiddenSize).toBe(64);
  });

  it('reports a missing config.json', async () => {
    const error = await readModelConfig(join(dir, 'nowhere')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelConfigError);
    expect((error as ModelConfigError).message).toMatch(/nowhere\/config\.json: file not found/);
  });

  it('reports corrupt JSON', async () => {
    const model = join(dir, 'corrupt');
    await mkdir(model);
    await writeFile(join(model, 'config.json'), '{"architectures": ["LlamaForCausalLM"],');
    const error = await readModelConfig(model).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelConfigError);
    expect((error as ModelConfigError).code).toBe('E_MODEL_CONFIG');
    expect((error as ModelConfigError).message).toMatch(/corrupt\/config\.json: invalid JSON/);
  });
});
