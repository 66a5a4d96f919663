// Writes safetensors files that transformers and our reader both accept: tests, benchmarks and
// quantised checkpoints make their models with it. Writes go to a temporary file renamed into place,
// so a crash never leaves a half-written checkpoint under the final name.
import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { endianness } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { DuoError } from '../errors.js';
import { float32ToBfloat16Array, float32ToFloat16Array } from './float-conversion.js';
import { SAFETENSORS_DTYPE_BITS } from './safetensors-header.js';

/** dtypes the writer produces from float32 data. */
export type WritableDtype = 'F32' | 'F16' | 'BF16';

/** One tensor to write: float32 data narrowed to `dtype` (round to nearest even). */
export interface TensorToWrite {
  readonly dtype: WritableDtype;
  readonly shape: readonly number[];
  /** `[product of shape]` f32, row-major. */
  readonly data: Float32Array;
}

/**
 * One tensor given as the bytes to store (little-endian, row-major), for dtypes the float path does
 * not produce (int8 weights, packed codes) or bytes the caller has already checksummed.
 */
export interface RawTensorToWrite {
  /** Any whole-byte safetensors dtype: I8, U8, F16, F32, ... */
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}

/** Bad input to {@link writeSafetensors}: unknown dtype, data length not matching shape. */
export class SafetensorsWriteError extends DuoError {
  constructor(file: string, tensor: string | undefined, message: string) {
    super('E_SAFETENSORS_WRITE', `${file}${tensor === undefined ? '' : ` (tensor "${tensor}")`}: ${message}`);
    this.name = 'SafetensorsWriteError';
  }
}

const ELEMENT_BYTES: Readonly<Record<WritableDtype, number>> = { F32: 4, F16: 2, BF16: 2 };
const CHUNK_ELEMENTS = 1 << 20;

/**
 * Writes `tensors` to `file` in safetensors format, in the order given, header padded with spaces to
 * a multiple of 8 bytes (as the reference writer does). The file appears atomically (temp + rename).
 *
 * @param metadata optional `__metadata__` string pairs (transformers writes `{"format": "pt"}`).
 * @throws SafetensorsWriteError for invalid tensors; file-system errors as thrown by node:fs.
 */
export async function writeSafetensors(
  file: string,
  tensors: Readonly<Record<string, TensorToWrite | RawTensorToWrite>>,
  metadata?: Readonly<Record<string, string>>,
): Promise<void> {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header.__metadata__ = { ...metadata };
  let offset = 0;
  for (const [name, tensor] of Object.entries(tensors)) {
    if (name === '__metadata__' || name === '')
      throw new SafetensorsWriteError(file, name, 'reserved tensor name');
    const raw = isRaw(tensor);
    const bits = raw ? SAFETENSORS_DTYPE_BITS[tensor.dtype] : undefined;
    const elementBytes = raw
      ? bits !== undefined && bits % 8 === 0
        ? bits / 8
        : undefined
      : ELEMENT_BYTES[tensor.dtype];
    if (elementBytes === undefined) {
      if (raw) {
        throw new SafetensorsWriteError(
          file,
          name,
          `cannot write raw dtype ${JSON.stringify(tensor.dtype)}; use a whole-byte safetensors dtype`,
        );
      }
      throw new SafetensorsWriteError(
        file,
        name,
        `cannot write dtype ${JSON.stringify(tensor.dtype)}; use F32, F16 or BF16`,
      );
    }
    let count = 1;
    for (const d of tensor.shape) {
      if (!Number.isSafeInteger(d) || d < 0)
        throw new SafetensorsWriteError(file, name, `bad shape [${tensor.shape.join(', ')}]`);
      count *= d;
    }
    if (raw && count * elementBytes !== tensor.bytes.length) {
      throw new SafetensorsWriteError(
        file,
        name,
        `shape [${tensor.shape.join(', ')}] of ${tensor.dtype} takes ${count * elementBytes} bytes but ${tensor.bytes.length} were given`,
      );
    }
    if (!raw && count !== tensor.data.length) {
      throw new SafetensorsWriteError(
        file,
        name,
        `shape [${tensor.shape.join(', ')}] has ${count} elements but data has ${tensor.data.length}`,
      );
    }
    const size = count * elementBytes;
    header[name] = { dtype: tensor.dtype, shape: [...tensor.shape], data_offsets: [offset, offset + size] };
    offset += size;
  }

  let headerText = JSON.stringify(header);
  const headerBytesLength = Buffer.byteLength(headerText, 'utf8');
  headerText += ' '.repeat((8 - ((8 + headerBytesLength) % 8)) % 8);
  const headerBytes = Buffer.from(headerText, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerBytes.length));

  const temporary = join(
    dirname(file),
    `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
  );
  const handle = await open(temporary, 'wx');
  try {
    await writeAll(handle, prefix);
    await writeAll(handle, headerBytes);
    for (const tensor of Object.values(tensors)) await writeTensor(handle, tensor);
    await handle.sync();
    await handle.close();
    await rename(temporary, file);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(temporary, { force: true });
    throw error;
  }
}

function isRaw(tensor: TensorToWrite | RawTensorToWrite): tensor is RawTensorToWrite {
  return 'bytes' in tensor;
}

async function writeTensor(handle: FileHandle, tensor: TensorToWrite | RawTensorToWrite): Promise<void> {
  if (isRaw(tensor)) {
    await writeAll(handle, tensor.bytes);
    return;
  }
  for (let start = 0; start < tensor.data.length; start += CHUNK_ELEMENTS) {
    const part = tensor.data.subarray(start, Math.min(tensor.data.length, start + CHUNK_ELEMENTS));
    let bytes: Uint8Array;
    if (tensor.dtype === 'F32') {
      bytes = new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
      if (endianness() !== 'LE') bytes = toLittleEndian(bytes, 4);
    } else {
      const halves = tensor.dtype === 'F16' ? float32ToFloat16Array(part) : float32ToBfloat16Array(part);
      bytes = new Uint8Array(halves.buffer, halves.byteOffset, halves.byteLength);
      if (endianness() !== 'LE') bytes = toLittleEndian(bytes, 2);
    }
    await writeAll(handle, bytes);
  }
}

async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.length; ) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done);
    done += bytesWritten;
  }
}

function toLittleEndian(bytes: Uint8Array, width: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += width) {
    for (let k = 0; k < width; k++) out[i + k] = bytes[i + width - 1 - k]!;
  }
  return out;
}
