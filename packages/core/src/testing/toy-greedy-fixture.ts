// fixtures/toy-greedy.json: the cpu backend's greedy tokens on the bundled toy model, which other
// backends must reproduce, with the cpu's margin at each step and the near-tie rule built on it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixturesDirectory } from './golden-fixtures.js';

/** One policy's 64 greedy tokens. */
export interface ToyGreedyCase {
  readonly name: string;
  /** `[numLayers][numKvHeads]`, 1 = retrieval head. */
  readonly mask: number[][];
  readonly sinkSize: number;
  readonly recentSize: number;
  readonly tokens: number[];
  /** The cpu's top-1 minus top-2 logit at each generated token (rounded to 1e-4). */
  readonly margins: number[];
}

export interface ToyGreedyFixture {
  /** The model directory, relative to the repository root. */
  readonly model: string;
  readonly promptIds: number[];
  readonly newTokens: number;
  /** Prefill chunk size the tokens were generated with. */
  readonly prefillChunk: number;
  readonly cases: ToyGreedyCase[];
}

/**
 * Below this cpu margin (logits) a step is a near tie: bf16 rounding may legitimately pick the other
 * token there, after which two backends write different continuations that are no longer compared.
 */
export const TOY_GREEDY_NEAR_TIE = 0.01;

/** Path of the fixture (under {@link fixturesDirectory}, so `DUO_FIXTURES_DIR` moves it too). */
export function toyGreedyFixturePath(): string {
  return join(fixturesDirectory(), 'toy-greedy.json');
}

/** Reads and parses the fixture. */
export function readToyGreedyFixtureSync(): ToyGreedyFixture {
  return JSON.parse(readFileSync(toyGreedyFixturePath(), 'utf8')) as ToyGreedyFixture;
}
