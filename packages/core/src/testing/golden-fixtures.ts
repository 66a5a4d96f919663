// The golden fixtures shipped in packages/core/fixtures: tiny HF checkpoints plus logits from HF
// transformers and from an independent float64 DuoAttention implementation (tools/reference/).
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SafetensorsCheckpoint } from '../model/safetensors.js';

/** One DuoAttention case: a policy, a chunking, and the float64 logits of every position. */
export interface GoldenCase {
  readonly name: string;
  readonly policy: 'full' | 'streaming' | 'mixed';
  /** `[numLayers][numKvHeads]`, 1 = retrieval head, original head order. */
  readonly mask: readonly (readonly number[])[];
  readonly sinkSize: number;
  readonly recentSize: number;
  readonly prefillLength: number;
  readonly prefillChunkSize: number;
  /** Tensor name in goldens.safetensors: `[inputIds.length, vocabSize]` f32. */
  readonly logits: string;
}

/** goldens.json of one fixture model. */
export interface GoldenManifest {
  readonly model: string;
  readonly inputIds: readonly number[];
  readonly prefillLength: number;
  readonly hf: {
    /** Tensor name: HF transformers' full-attention logits `[inputIds.length, vocabSize]`. */
    readonly fullLogits: string;
    readonly greedy: { readonly promptIds: readonly number[]; readonly tokens: readonly number[] };
  };
  readonly float64VsHfMaxAbsDiff: number;
  readonly cases: readonly GoldenCase[];
}

/** A fixture model directory with its goldens. */
export interface GoldenModel {
  readonly name: string;
  /** HF model directory (config.json, safetensors, tokenizer). */
  readonly directory: string;
  readonly manifest: GoldenManifest;
  /** Reads a golden tensor as float32. */
  tensor(name: string): Promise<Float32Array>;
}

/** Names of the fixture models the conformance suite runs on. */
export const GOLDEN_MODELS = ['llama-gqa', 'llama-mha-llama3', 'mistral'] as const;

/** Environment variable naming the fixtures directory, for bundled copies of the suite. */
export const FIXTURES_DIR_ENV = 'DUO_FIXTURES_DIR';

/**
 * packages/core/fixtures, found from source (src/testing) or from the build (dist), unless
 * `DUO_FIXTURES_DIR` names it (a bundle run away from the package, e.g. on the GPU machine).
 */
export function fixturesDirectory(): string {
  const fromEnv = process.env[FIXTURES_DIR_ENV];
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!existsSync(join(fromEnv, 'README.md'))) {
      throw new Error(`${FIXTURES_DIR_ENV}=${fromEnv} holds no golden fixtures (no README.md there)`);
    }
    return fromEnv;
  }
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, 'fixtures');
    if (existsSync(join(candidate, 'README.md'))) return candidate;
    dir = dirname(dir);
  }
  throw new Error(`golden fixtures not found above ${fileURLToPath(import.meta.url)}`);
}

/** Opens one fixture model and its goldens. */
export async function openGoldenModel(name: string): Promise<GoldenModel> {
  const directory = join(fixturesDirectory(), name);
  const manifest = JSON.parse(await readFile(join(directory, 'goldens.json'), 'utf8')) as GoldenManifest;
  const goldensFile = join(directory, 'goldens.safetensors');
  return {
    name,
    directory,
    manifest,
    async tensor(tensorName: string) {
      const checkpoint = await SafetensorsCheckpoint.openFile(goldensFile);
      try {
        return await checkpoint.readFloat32(tensorName);
      } finally {
        await checkpoint.close();
      }
    },
  };
}

/** Reads a fixture model's manifest synchronously (test collection cannot await). */
export function readGoldenManifestSync(name: string): GoldenManifest {
  return JSON.parse(readFileSync(join(fixturesDirectory(), name, 'goldens.json'), 'utf8')) as GoldenManifest;
}
