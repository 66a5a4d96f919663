// `duo quantize`: a float model directory in, a W8A8 checkpoint directory out (SmoothQuant
// calibration on a few sequences through the reference backend, int8 weights per output channel),
// which every model command then loads with --model and runs W8A8 without recalibrating.
import { resolve } from 'node:path';
import { loadModel } from '@duo-attn/core';
import { generateHaystack, readHaystackDirectory } from '@duo-attn/eval';
import { DEFAULT_SMOOTHQUANT_ALPHA, quantizeModelW8A8, writeQuantizedCheckpoint } from '@duo-attn/quant';
import { numberOption, parseCommandArgs, stringOption, UsageError } from '../cli-args.js';
import { type CliIo, formatBytes, printJson, progressReporter } from '../cli-io.js';
import { InterruptedError } from '../interrupted.js';
import { modelDirectory, openTokenizer } from '../model-options.js';

export const QUANTIZE_USAGE = `Usage: duo quantize --model DIR --out DIR [--alpha A] [--calibration-sequences N]
         [--calibration-length T] [--calibration-dir DIR] [--json]

Writes a W8A8 checkpoint of the float model in --model to --out: SmoothQuant smoothing (migration
strength --alpha, default ${DEFAULT_SMOOTHQUANT_ALPHA}) calibrated on --calibration-sequences sequences (default 4) of
--calibration-length tokens (default 512, at most the model's context), folded into the RMSNorms,
then int8 weights per output channel with fp16 scales. Calibration text is generated unless
--calibration-dir names a folder of .txt files. Calibration runs on the reference backend (float32
TypeScript), so it suits small models. --out is replaced only when it is empty or an earlier
quantized checkpoint; tokenizer and generation files are copied. Load the result with --model.
`;

export async function runQuantize(argv: readonly string[], io: CliIo, signal?: AbortSignal): Promise<void> {
  const args = parseCommandArgs(
    argv,
    {
      model: { type: 'string' },
      out: { type: 'string' },
      alpha: { type: 'string' },
      'calibration-sequences': { type: 'string' },
      'calibration-length': { type: 'string' },
      'calibration-dir': { type: 'string' },
      json: { type: 'boolean' },
    },
    QUANTIZE_USAGE,
  );
  const out = stringOption(args, 'out');
  if (out === undefined) throw new UsageError('--out DIR is required', QUANTIZE_USAGE);
  const alpha = numberOption(args, 'alpha', { min: 0, max: 1 }) ?? DEFAULT_SMOOTHQUANT_ALPHA;
  const sequences = numberOption(args, 'calibration-sequences', { integer: true, min: 1 }) ?? 4;
  const requestedLength = numberOption(args, 'calibration-length', { integer: true, min: 1 });
  const dir = modelDirectory(args);
  if (resolve(dir) === resolve(out)) throw new UsageError('--out must differ from --model');

  const started = performance.now();
  const model = await loadModel(dir);
  const length = Math.min(requestedLength ?? 512, model.config.maxPositionEmbeddings);
  const tokenizer = await openTokenizer(args);
  const calibrationDir = stringOption(args, 'calibration-dir');
  const text =
    calibrationDir !== undefined
      ? await readHaystackDirectory(calibrationDir)
      : generateHaystack(sequences * length * 8);
  const ids = tokenizer.encode(text, { addSpecialTokens: false });
  if (ids.length < sequences * length) {
    throw new UsageError(
      `the calibration text has ${ids.length} tokens; ${sequences} sequences of ${length} need ${sequences * length}`,
    );
  }
  const calibration = Array.from({ length: sequences }, (_, i) => ids.slice(i * length, (i + 1) * length));
  io.stderr(
    `quantizing ${dir}: SmoothQuant alpha ${alpha}, ${sequences} calibration sequences of ${length} tokens\n`,
  );
  const calibrating = progressReporter(io, sequences);
  const quantizing = progressReporter(io, model.config.numLayers);
  let quantized: Awaited<ReturnType<typeof quantizeModelW8A8>>;
  try {
    quantized = await quantizeModelW8A8(model, {
      calibration,
      alpha,
      ...(signal !== undefined ? { signal } : {}),
      onProgress: (progress) => {
        if (progress.stage === 'calibrate') {
          calibrating(progress.sequencesDone, `calibration sequences (${progress.tokensDone} tokens)`);
        } else {
          quantizing(progress.layersDone, 'layers quantized');
        }
      },
    });
  } catch (error) {
    if (signal?.aborted) throw new InterruptedError('quantize interrupted; nothing was written');
    throw error;
  }
  await writeQuantizedCheckpoint(out, quantized, { sourceDirectory: dir });
  let int8Bytes = 0;
  for (const layer of quantized.w8a8.layers) {
    for (const linear of Object.values(layer))
      int8Bytes += linear.weight.byteLength + 2 * linear.scale.length;
  }
  const seconds = (performance.now() - started) / 1000;
  if (args.values.json) {
    printJson(io, {
      model: dir,
      out,
      alpha,
      calibrationSequences: sequences,
      calibrationLength: length,
      linearBytes: int8Bytes,
      seconds,
    });
    return;
  }
  io.stdout(
    `wrote ${out}: W8A8 linears ${formatBytes(int8Bytes)} (int8 + fp16 scales), SmoothQuant alpha ${alpha}, ${seconds.toFixed(1)} s\n`,
  );
}
