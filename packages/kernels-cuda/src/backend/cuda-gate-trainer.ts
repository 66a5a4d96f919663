// The cuda backend's gate trainer (core's GateTrainer contract): a NativeGateTrainer holding the
// frozen bf16 weights and every buffer of a step; this side checks requests, computes the RoPE
// tables of positions 0..T-1 with core's code (HF's float32 rounding, as inference does) and turns
// native failures into typed errors. Steps run one at a time, in call order.
import {
  AbortedError,
  checkGateTrainingRequest,
  DisposedError,
  dynamicRopeLength,
  type GateTrainer,
  type GateTrainingRequest,
  type GateTrainingResult,
  type ModelConfig,
  RopeAngleTable,
} from '@duo-attn/core';
import type { NativeGateTrainer, NativeGateTrainerMemory } from '../binding.js';
import { CudaRuntimeError } from '../errors.js';

/** Where one step's time went on the device, in milliseconds. */
export interface CudaGateTrainingTimings {
  readonly teacherMs: number;
  readonly studentMs: number;
  readonly backwardMs: number;
}

/** A step's result with the device timings. */
export interface CudaGateTrainingResult extends GateTrainingResult {
  readonly timings: CudaGateTrainingTimings;
}

export class CudaGateTrainer implements GateTrainer {
  readonly backendName = 'cuda';
  readonly config: ModelConfig;
  readonly maxTokens: number;
  private native: NativeGateTrainer | undefined;
  private readonly rope: RopeAngleTable;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(native: NativeGateTrainer, config: ModelConfig, maxTokens: number) {
    this.native = native;
    this.config = config;
    this.maxTokens = maxTokens;
    this.rope = new RopeAngleTable(config.rope, config.headDim);
  }

  step(request: GateTrainingRequest): Promise<CudaGateTrainingResult> {
    if (this.native === undefined) return Promise.reject(new DisposedError('step'));
    try {
      checkGateTrainingRequest(this.config, this.maxTokens, request);
    } catch (error) {
      return Promise.reject(error);
    }
    const ids = Int32Array.from(request.inputIds);
    const labels = Int32Array.from(request.labelPositions);
    const gates = Float32Array.from(request.gates);
    const run = this.queue.then(async () => {
      const native = this.native;
      if (native === undefined) throw new DisposedError('step');
      if (request.signal?.aborted) throw new AbortedError('gate training step', request.signal.reason);
      const rows = ids.length;
      const { maxPositionEmbeddings } = this.config;
      const { cos, sin } = this.rope.angles(
        0,
        rows,
        this.rope.dynamic ? dynamicRopeLength(maxPositionEmbeddings, rows, maxPositionEmbeddings) : undefined,
      );
      let result: Awaited<ReturnType<NativeGateTrainer['step']>>;
      try {
        result = await native.step(ids, cos, sin, labels, gates);
      } catch (error) {
        throw new CudaRuntimeError(`a gate training step of ${rows} tokens`, error);
      }
      return {
        distillationLoss: result.loss,
        gradient: result.gradient,
        timings: { teacherMs: result.teacherMs, studentMs: result.studentMs, backwardMs: result.backwardMs },
      };
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Device bytes by purpose. */
  memory(): NativeGateTrainerMemory {
    if (this.native === undefined) throw new DisposedError('memory');
    return this.native.memory();
  }

  async dispose(): Promise<void> {
    const native = this.native;
    this.native = undefined;
    await this.queue;
    await native?.dispose();
  }
}
