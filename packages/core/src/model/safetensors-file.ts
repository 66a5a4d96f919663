// One safetensors file, read a tensor at a time with positioned reads: a multi-GB checkpoint is never
// held in memory, only the tensor being widened to float32 plus one bounded chunk.

import { type FileHandle, open } from 'node:fs/promises';
import { endianness } from 'node:os';
import { bfloat16ToFloat32Array, float16ToFloat32Array } from './float-conversion.js';
import { CheckpointError, SafetensorsFormatError, UnsupportedDtypeError } from './model-errors.js';
import {
  parseHeaderLength,
  parseSafetensorsHeader,
  type SafetensorsEntry,
  type SafetensorsHeader,
} from './safetensors-header.js';

/** Largest single read; Node refuses reads over 2 GiB and smaller chunks bound the conversion buffer. */
const CHUNK_BYTES = 16 * 1024 * 1024;
const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/**
 * A safetensors file whose header has been read and validated. The header is read at {@link open}
 * with a short-lived handle; the data handle is opened on the first read and kept until
 * {@link close}, after checking the file still has the size its header was validated against.
 */
export class SafetensorsFile {
  /** Path of the file. */
  readonly file: string;
  /** File size in bytes when the header was read. */
  readonly size: number;
  private readonly header: SafetensorsHeader;
  private handle: Promise<FileHandle> | undefined;
  private closed = false;

  private constructor(file: string, size: number, header: SafetensorsHeader) {
    this.file = file;
    this.size = size;
    this.header = header;
  }

  /**
   * Reads and validates the header of `file`.
   *
   * @throws CheckpointError when the file cannot be opened; SafetensorsFormatError when the header is
   *   malformed or describes data the file does not hold.
   */
  static async open(file: string): Promise<SafetensorsFile> {
    const handle = await openHandle(file);
    try {
      const size = (await handle.stat()).size;
      const prefix = new Uint8Array(Math.min(8, size));
      await readFully(handle, prefix, 0, file, undefined);
      const headerLength = parseHeaderLength(prefix, size, file);
      const headerBytes = new Uint8Array(headerLength);
      await readFully(handle, headerBytes, 8, file, undefined);
      return new SafetensorsFile(file, size, parseSafetensorsHeader(headerBytes, size, file));
    } finally {
      await handle.close();
    }
  }

  /** Tensor names in file order. */
  names(): string[] {
    return [...this.header.entries.keys()];
  }

  /** True when the file holds `name`. */
  has(name: string): boolean {
    return this.header.entries.has(name);
  }

  /**
   * The validated header entry of `name`.
   *
   * @throws CheckpointError when the file holds no such tensor.
   */
  entry(name: string): SafetensorsEntry {
    const entry = this.header.entries.get(name);
    if (entry === undefined) throw new CheckpointError(this.file, name, 'no such tensor in this file');
    return entry;
  }

  /** The header's `__metadata__` string pairs. */
  metadata(): Readonly<Record<string, string>> {
    return this.header.metadata;
  }

  /**
   * Reads tensor `name` and widens it to float32 (`[elementCount]`, row-major in the tensor's shape).
   *
   * @throws UnsupportedDtypeError for dtypes other than F32, F16 and BF16; SafetensorsFormatError when
   *   the file was truncated or changed after its header was read.
   */
  async readFloat32(name: string): Promise<Float32Array> {
    const entry = this.entry(name);
    if (entry.dtype !== 'F32' && entry.dtype !== 'F16' && entry.dtype !== 'BF16') {
      throw new UnsupportedDtypeError(this.file, name, entry.dtype);
    }
    const out = allocateFloat32(entry.elementCount, this.file, name);
    const handle = await this.dataHandle();
    const byteLength = entry.end - entry.begin;
    if (entry.dtype === 'F32' && LITTLE_ENDIAN_HOST) {
      await readFully(handle, new Uint8Array(out.buffer), entry.begin, this.file, name);
      return out;
    }
    const elementBytes = entry.dtype === 'F32' ? 4 : 2;
    const chunk = new Uint8Array(Math.min(byteLength, CHUNK_BYTES));
    for (let done = 0; done < byteLength; ) {
      const length = Math.min(chunk.length, byteLength - done);
      const bytes = chunk.subarray(0, length);
      await readFully(handle, bytes, entry.begin + done, this.file, name);
      const first = done / elementBytes;
      if (entry.dtype === 'F32') {
        const view = new DataView(bytes.buffer, bytes.byteOffset, length);
        for (let i = 0; i < length / 4; i++) out[first + i] = view.getFloat32(i * 4, true);
      } else {
        const halves = LITTLE_ENDIAN_HOST
          ? new Uint16Array(bytes.buffer, bytes.byteOffset, length / 2)
          : swap16(bytes);
        if (entry.dtype === 'F16') float16ToFloat32Array(halves, out, first);
        else bfloat16ToFloat32Array(halves, out, first);
      }
      done += length;
    }
    return out;
  }

  /** Reads tensor `name` as raw little-endian bytes, whatever its dtype. */
  async readBytes(name: string): Promise<Uint8Array> {
    const entry = this.entry(name);
    const out = new Uint8Array(entry.end - entry.begin);
    await readFully(await this.dataHandle(), out, entry.begin, this.file, name);
    return out;
  }

  /** Closes the data handle, if one was opened. Reads after close fail. */
  async close(): Promise<void> {
    this.closed = true;
    const handle = this.handle;
    this.handle = undefined;
    if (handle !== undefined) await (await handle.catch(() => undefined))?.close();
  }

  private dataHandle(): Promise<FileHandle> {
    if (this.closed) return Promise.reject(new CheckpointError(this.file, undefined, 'file is closed'));
    if (this.handle === undefined) {
      const opening = (async () => {
        const handle = await openHandle(this.file);
        const size = (await handle.stat()).size;
        if (size !== this.size) {
          await handle.close();
          throw new SafetensorsFormatError(
            this.file,
            undefined,
            `file is now ${size} bytes but its header was read from ${this.size} bytes; it changed while loading`,
          );
        }
        return handle;
      })();
      this.handle = opening;
      opening.catch(() => {
        if (this.handle === opening) this.handle = undefined;
      });
    }
    return this.handle;
  }
}

async function openHandle(file: string): Promise<FileHandle> {
  try {
    return await open(file, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'file not found' : `cannot open: ${(error as Error).message}`;
    throw new CheckpointError(file, undefined, why, { cause: error });
  }
}

/** Fills `target` from `position`, looping over short reads; a read past the end means truncation. */
async function readFully(
  handle: FileHandle,
  target: Uint8Array,
  position: number,
  file: string,
  tensor: string | undefined,
): Promise<void> {
  for (let done = 0; done < target.length; ) {
    const length = Math.min(CHUNK_BYTES, target.length - done);
    const { bytesRead } = await handle.read(target, done, length, position + done);
    if (bytesRead === 0) {
      throw new SafetensorsFormatError(
        file,
        tensor,
        `unexpected end of file at byte ${position + done} while reading ${target.length} bytes at ${position} (truncated?)`,
      );
    }
    done += bytesRead;
  }
}

function allocateFloat32(count: number, file: string, tensor: string): Float32Array {
  try {
    return new Float32Array(count);
  } catch (error) {
    throw new CheckpointError(
      file,
      tensor,
      `cannot allocate ${count} float32 values: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}

function swap16(bytes: Uint8Array): Uint16Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const out = new Uint16Array(bytes.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = view.getUint16(i * 2, true);
  return out;
}
