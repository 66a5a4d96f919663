// Training checkpoints: everything a killed run needs to continue exactly where it stopped (gates,
// AdamW moments, the step count, the loss history and the settings it was started with). Written
// atomically, so a kill during a write leaves the previous checkpoint intact.
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '@duo-attn/core';
import type { AdamWState } from './adamw.js';
import { TrainCheckpointError } from './errors.js';

/** The on-disk format name and version. */
export const CHECKPOINT_FORMAT = 'duo-attn-gate-training';
export const CHECKPOINT_VERSION = 1;

/** One optimizer step's record. */
export interface StepRecord {
  readonly step: number;
  readonly loss: number;
  readonly distillationLoss: number;
  readonly regLoss: number;
  readonly lr: number;
  readonly tokens: number;
  readonly ms: number;
}

/** A run's state after `step` optimizer steps. */
export interface TrainingState {
  /** Steps done. */
  step: number;
  /** `[numLayers * numKvHeads]`, layer-major. */
  readonly gates: Float64Array;
  readonly adam: AdamWState;
  readonly history: StepRecord[];
}

/**
 * Settings that must match to resume a run: a checkpoint of another model shape or objective is
 * refused rather than silently continued.
 */
export type RunIdentity = Readonly<Record<string, string | number | boolean | null>>;

interface CheckpointFile {
  readonly format: string;
  readonly version: number;
  readonly identity: RunIdentity;
  readonly step: number;
  readonly gates: number[];
  readonly adam: { readonly step: number; readonly m: number[]; readonly v: number[] };
  readonly history: StepRecord[];
}

/** Writes `state` to `path` atomically (JSON; float64 numbers round-trip exactly). */
export async function saveCheckpoint(
  path: string,
  identity: RunIdentity,
  state: TrainingState,
): Promise<void> {
  const file: CheckpointFile = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    identity,
    step: state.step,
    gates: Array.from(state.gates),
    adam: { step: state.adam.step, m: Array.from(state.adam.m), v: Array.from(state.adam.v) },
    history: state.history,
  };
  await writeFileAtomic(path, `${JSON.stringify(file)}\n`);
}

/**
 * Reads a checkpoint written by {@link saveCheckpoint} for a run with `identity`; undefined when
 * `path` does not exist. Throws {@link TrainCheckpointError} for a damaged file, another format or
 * version, or a run with other settings (each differing setting is named).
 */
export async function loadCheckpoint(
  path: string,
  identity: RunIdentity,
): Promise<TrainingState | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TrainCheckpointError(path, `cannot read checkpoint ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  let file: CheckpointFile;
  try {
    file = JSON.parse(text) as CheckpointFile;
  } catch (error) {
    throw new TrainCheckpointError(path, `checkpoint ${path} is not valid JSON (damaged?)`, { cause: error });
  }
  if (file.format !== CHECKPOINT_FORMAT || file.version !== CHECKPOINT_VERSION) {
    throw new TrainCheckpointError(
      path,
      `${path} is not a ${CHECKPOINT_FORMAT} checkpoint of version ${CHECKPOINT_VERSION} (format ${String(file.format)}, version ${String(file.version)})`,
    );
  }
  const differences = Object.keys({ ...identity, ...file.identity })
    .filter((key) => identity[key] !== file.identity?.[key])
    .map(
      (key) =>
        `${key}: checkpoint ${JSON.stringify(file.identity?.[key])}, this run ${JSON.stringify(identity[key])}`,
    );
  if (differences.length > 0) {
    throw new TrainCheckpointError(
      path,
      `checkpoint ${path} belongs to a run with other settings (${differences.join('; ')}); use another --out or start afresh`,
    );
  }
  const size = file.gates?.length ?? 0;
  const numbers = (list: unknown): list is number[] =>
    Array.isArray(list) &&
    list.length === size &&
    list.every((x) => typeof x === 'number' && Number.isFinite(x));
  if (
    !Number.isSafeInteger(file.step) ||
    file.step < 0 ||
    !numbers(file.gates) ||
    !numbers(file.adam?.m) ||
    !numbers(file.adam?.v) ||
    !Number.isSafeInteger(file.adam?.step) ||
    !Array.isArray(file.history)
  ) {
    throw new TrainCheckpointError(path, `checkpoint ${path} is incomplete or has fields of the wrong type`);
  }
  return {
    step: file.step,
    gates: Float64Array.from(file.gates),
    adam: { step: file.adam.step, m: Float64Array.from(file.adam.m), v: Float64Array.from(file.adam.v) },
    history: file.history,
  };
}
