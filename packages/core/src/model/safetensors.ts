// The safetensors checkpoint of a Hugging Face model directory, single-file or sharded, behind one
// name -> tensor API, so weight loading does not care how the checkpoint was split.
import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { isJsonObject } from './config-fields.js';
import { CheckpointError } from './model-errors.js';
import { SafetensorsFile } from './safetensors-file.js';

/** File name of a single-file checkpoint. */
export const SAFETENSORS_FILE = 'model.safetensors';
/** File name of a sharded checkpoint's index (`{"weight_map": {tensor: shard file}}`). */
export const SAFETENSORS_INDEX_FILE = 'model.safetensors.index.json';

/** Where a tensor is and what it holds. */
export interface TensorInfo {
  /** safetensors dtype: F32, F16, BF16, I8, ... */
  readonly dtype: string;
  readonly shape: readonly number[];
  /** Path of the file holding it. */
  readonly file: string;
}

/**
 * The tensors of a model directory. {@link open} reads and validates the header of every file
 * (headers are small; errors surface before any data is read); a file's data handle opens on its
 * first read. Call {@link close} when done.
 */
export class SafetensorsCheckpoint {
  /** The model directory. */
  readonly directory: string;
  private readonly files: readonly SafetensorsFile[];
  private readonly locations: ReadonlyMap<string, SafetensorsFile>;

  private constructor(
    directory: string,
    files: readonly SafetensorsFile[],
    locations: ReadonlyMap<string, SafetensorsFile>,
  ) {
    this.directory = directory;
    this.files = files;
    this.locations = locations;
  }

  /**
   * Opens the checkpoint of `dir`. As transformers, `model.safetensors` is used when present, else
   * `model.safetensors.index.json` and the shards its `weight_map` names.
   *
   * @throws CheckpointError when neither exists, the index is malformed, or a shard lacks a tensor
   *   the index places in it; SafetensorsFormatError for a malformed file.
   */
  static async open(dir: string): Promise<SafetensorsCheckpoint> {
    const single = join(dir, SAFETENSORS_FILE);
    if (await isFile(single)) {
      const file = await SafetensorsFile.open(single);
      return new SafetensorsCheckpoint(dir, [file], new Map(file.names().map((name) => [name, file])));
    }
    const indexFile = join(dir, SAFETENSORS_INDEX_FILE);
    if (await isFile(indexFile)) {
      const { files, locations } = await openShards(dir, indexFile);
      return new SafetensorsCheckpoint(dir, files, locations);
    }
    const hint = (await isFile(join(dir, 'pytorch_model.bin')))
      ? '; pytorch_model.bin checkpoints are not supported, convert them to safetensors'
      : '';
    throw new CheckpointError(dir, undefined, `no ${SAFETENSORS_FILE} or ${SAFETENSORS_INDEX_FILE}${hint}`);
  }

  /**
   * Opens one safetensors file of any name (e.g. a fixture's goldens) as a checkpoint whose
   * `directory` is the file's directory.
   *
   * @throws CheckpointError when the file cannot be opened; SafetensorsFormatError when malformed.
   */
  static async openFile(file: string): Promise<SafetensorsCheckpoint> {
    const opened = await SafetensorsFile.open(file);
    return new SafetensorsCheckpoint(
      dirname(file),
      [opened],
      new Map(opened.names().map((name) => [name, opened])),
    );
  }

  /** Every tensor name (file order; for a sharded checkpoint, weight_map order). */
  names(): string[] {
    return [...this.locations.keys()];
  }

  /** True when the checkpoint holds `name`. */
  has(name: string): boolean {
    return this.locations.has(name);
  }

  /**
   * dtype, shape and file of `name`.
   *
   * @throws CheckpointError when the checkpoint holds no such tensor.
   */
  info(name: string): TensorInfo {
    const file = this.fileOf(name);
    const entry = file.entry(name);
    return { dtype: entry.dtype, shape: entry.shape, file: file.file };
  }

  /**
   * Reads `name` widened to float32 (`[product of shape]`, row-major).
   *
   * @throws UnsupportedDtypeError for dtypes other than F32/F16/BF16; CheckpointError for an unknown
   *   name; SafetensorsFormatError when the file was truncated or changed.
   */
  readFloat32(name: string): Promise<Float32Array> {
    return this.fileOf(name).readFloat32(name);
  }

  /** Reads `name` as raw little-endian bytes (for dtypes the float path does not take). */
  readBytes(name: string): Promise<Uint8Array> {
    return this.fileOf(name).readBytes(name);
  }

  /** Closes every open data handle. */
  async close(): Promise<void> {
    await Promise.all(this.files.map((file) => file.close()));
  }

  private fileOf(name: string): SafetensorsFile {
    const file = this.locations.get(name);
    if (file === undefined)
      throw new CheckpointError(this.directory, name, 'no such tensor in the checkpoint');
    return file;
  }
}

async function openShards(
  dir: string,
  indexFile: string,
): Promise<{ files: SafetensorsFile[]; locations: Map<string, SafetensorsFile> }> {
  const weightMap = await readWeightMap(indexFile);
  const shardNames = [...new Set(weightMap.values())];
  const shards = new Map<string, SafetensorsFile>();
  try {
    for (const shardName of shardNames) {
      const path = resolve(dir, shardName);
      const inside = relative(resolve(dir), path);
      if (inside.startsWith('..') || isAbsolute(inside)) {
        throw new CheckpointError(
          indexFile,
          undefined,
          `shard "${shardName}" lies outside the model directory`,
        );
      }
      shards.set(shardName, await SafetensorsFile.open(path));
    }
    const locations = new Map<string, SafetensorsFile>();
    for (const [tensor, shardName] of weightMap) {
      const shard = shards.get(shardName)!;
      if (!shard.has(tensor)) {
        throw new CheckpointError(
          indexFile,
          tensor,
          `weight_map places it in "${shardName}", which does not hold it`,
        );
      }
      locations.set(tensor, shard);
    }
    return { files: [...shards.values()], locations };
  } catch (error) {
    await Promise.all([...shards.values()].map((shard) => shard.close()));
    throw error;
  }
}

async function readWeightMap(indexFile: string): Promise<Map<string, string>> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(indexFile, 'utf8'));
  } catch (error) {
    throw new CheckpointError(indexFile, undefined, `cannot read index: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const weightMap = isJsonObject(json) ? json.weight_map : undefined;
  if (!isJsonObject(weightMap)) {
    throw new CheckpointError(indexFile, undefined, 'index has no "weight_map" object');
  }
  const map = new Map<string, string>();
  for (const [tensor, shard] of Object.entries(weightMap)) {
    if (typeof shard !== 'string' || shard === '') {
      throw new CheckpointError(
        indexFile,
        tensor,
        `weight_map value must be a shard file name, got ${JSON.stringify(shard)}`,
      );
    }
    map.set(tensor, shard);
  }
  if (map.size === 0) throw new CheckpointError(indexFile, undefined, 'weight_map is empty');
  return map;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
