import { mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuoError } from '../errors.js';
import {
  bfloat16BitsToFloat32,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
} from './float-conversion.js';
import { CheckpointError, SafetensorsFormatError, UnsupportedDtypeError } from './model-errors.js';
import { SafetensorsCheckpoint } from './safetensors.js';
import { SafetensorsFile } from './safetensors-file.js';
import { SafetensorsWriteError, writeSafetensors } from './safetensors-writer.js';

let root: string;
let counter = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'duo-safetensors-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function freshDir(): Promise<string> {
  const dir = join(root, `case-${counter++}`);
  await mkdir(dir);
  return dir;
}

/** Writes a file with a hand-made header, to test how the reader treats lies. */
async function writeRaw(
  file: string,
  header: unknown,
  dataBytes: number,
  headerLength?: number,
): Promise<void> {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerLength ?? json.length));
  await writeFile(file, Buffer.concat([prefix, json, Buffer.alloc(dataBytes, 7)]));
}

async function rejection(promise: Promise<unknown>): Promise<DuoError> {
  try {
    await promise;
  } catch (error) {
    if (DuoError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

const values = new Float32Array([0, 1, -2.5, 3.375, 1e-3, -65504, 1 / 3, 7e-8]);

describe('writeSafetensors + SafetensorsFile', () => {
  it('round-trips F32 exactly and F16/BF16 with round-to-nearest-even', async () => {
    const file = join(await freshDir(), 'model.safetensors');
    await writeSafetensors(
      file,
      {
        a32: { dtype: 'F32', shape: [2, 4], data: values },
        b16: { dtype: 'F16', shape: [8], data: values },
        cbf: { dtype: 'BF16', shape: [4, 2], data: values },
        scalar: { dtype: 'F32', shape: [], data: new Float32Array([42]) },
        empty: { dtype: 'BF16', shape: [0, 3], data: new Float32Array(0) },
      },
      { format: 'pt' },
    );
    const bytes = await readFile(file);
    expect(Number(bytes.readBigUInt64LE(0)) % 8).toBe(0); // header padded to 8 bytes

    const reader = await SafetensorsFile.open(file);
    expect(reader.names()).toEqual(['a32', 'b16', 'cbf', 'scalar', 'empty']);
    expect(reader.metadata()).toEqual({ format: 'pt' });
    expect(reader.entry('cbf')).toMatchObject({ dtype: 'BF16', shape: [4, 2], elementCount: 8 });
    expect([...(await reader.readFloat32('a32'))]).toEqual([...values]);
    expect([...(await reader.readFloat32('b16'))]).toEqual(
      [...values].map((v) => float16BitsToFloat32(float32ToFloat16Bits(v))),
    );
    expect([...(await reader.readFloat32('cbf'))]).toEqual(
      [...values].map((v) => bfloat16BitsToFloat32(float32ToBfloat16Bits(v))),
    );
    expect([...(await reader.readFloat32('scalar'))]).toEqual([42]);
    expect((await reader.readFloat32('empty')).length).toBe(0);
    expect([...(await reader.readBytes('b16')).subarray(0, 4)]).toEqual([0, 0, 0x00, 0x3c]);
    await reader.close();
    await expect(reader.readFloat32('a32')).rejects.toThrow(/closed/);
    // No temporary file left behind.
    expect((await readdir(join(file, '..'))).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('reads a tensor larger than one read chunk', async () => {
    const file = join(await freshDir(), 'big.safetensors');
    const count = 8_500_000; // 17 MB of BF16, more than the 16 MiB chunk
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = (i % 251) - 125; // exact in bfloat16
    await writeSafetensors(file, { big: { dtype: 'BF16', shape: [count], data } });
    const reader = await SafetensorsFile.open(file);
    const read = await reader.readFloat32('big');
    await reader.close();
    expect(read.length).toBe(count);
    for (const i of [0, 1, 999, 8_388_607, 8_388_608, 8_388_609, count - 1]) expect(read[i]).toBe(data[i]);
  });

  it('rejects bad tensors when writing and leaves no file', async () => {
    const dir = await freshDir();
    const file = join(dir, 'bad.safetensors');
    await expect(
      writeSafetensors(file, { t: { dtype: 'F32', shape: [3], data: new Float32Array(2) } }),
    ).rejects.toThrow(SafetensorsWriteError);
    await expect(
      writeSafetensors(file, { t: { dtype: 'I8' as 'F32', shape: [1], data: new Float32Array(1) } }),
    ).rejects.toThrow(/I8/);
    expect(await readdir(dir)).toEqual([]);
  });

  it('writes raw tensors (int8 codes) byte for byte next to float ones', async () => {
    const file = join(await freshDir(), 'raw.safetensors');
    const codes = new Int8Array([-127, 0, 5, 127, -1, 3]);
    await writeSafetensors(file, {
      w: { dtype: 'I8', shape: [2, 3], bytes: new Uint8Array(codes.buffer) },
      s: { dtype: 'F32', shape: [2], data: new Float32Array([0.5, 2]) },
    });
    const reader = await SafetensorsFile.open(file);
    expect(reader.entry('w')).toMatchObject({ dtype: 'I8', shape: [2, 3] });
    expect([...new Int8Array((await reader.readBytes('w')).buffer)]).toEqual([...codes]);
    expect([...(await reader.readFloat32('s'))]).toEqual([0.5, 2]);
    await reader.close();
    await expect(
      writeSafetensors(file, { w: { dtype: 'I8', shape: [4], bytes: new Uint8Array(3) } }),
    ).rejects.toThrow(/takes 4 bytes but 3/);
    await expect(
      writeSafetensors(file, { w: { dtype: 'F4', shape: [2], bytes: new Uint8Array(1) } }),
    ).rejects.toThrow(/whole-byte/);
  });
});

describe('header validation', () => {
  const entry = (dtype: string, shape: number[], begin: number, end: number) => ({
    dtype,
    shape,
    data_offsets: [begin, end],
  });

  const cases: Array<[string, unknown, number, number | undefined, string | undefined, RegExp]> = [
    [
      'header longer than the file',
      { a: entry('F32', [1], 0, 4) },
      4,
      10_000,
      undefined,
      /does not fit.*truncated/,
    ],
    ['not JSON', 'not json', 0, undefined, undefined, /not valid UTF-8 JSON|not a JSON object/],
    ['unknown dtype', { a: entry('F17', [1], 0, 4) }, 4, undefined, 'a', /unknown dtype "F17"/],
    ['bad shape', { a: entry('F32', [-1], 0, 4) }, 4, undefined, 'a', /shape/],
    [
      'offsets lie about the size',
      { a: entry('F32', [2, 2], 0, 12) },
      12,
      undefined,
      'a',
      /span 12 bytes.*needs 16/,
    ],
    ['offsets reversed', { a: entry('F32', [1], 4, 0) }, 4, undefined, 'a', /begin <= end/],
    [
      'overlapping tensors',
      { a: entry('F32', [2], 0, 8), b: entry('F32', [2], 4, 12) },
      12,
      undefined,
      'b',
      /overlap tensor "a"/,
    ],
    [
      'gap between tensors',
      { a: entry('F32', [1], 0, 4), b: entry('F32', [1], 8, 12) },
      12,
      undefined,
      'b',
      /gap/,
    ],
    [
      'offsets out of range',
      { a: entry('F32', [1], 0, 4), b: entry('F32', [4], 4, 20) },
      8,
      undefined,
      'b',
      /only \d+ bytes \(truncated\?\)/,
    ],
    [
      'bytes left over',
      { a: entry('F32', [1], 0, 4) },
      12,
      undefined,
      undefined,
      /8 bytes after the last tensor/,
    ],
    [
      'metadata not strings',
      { __metadata__: { n: 1 }, a: entry('F32', [1], 0, 4) },
      4,
      undefined,
      undefined,
      /__metadata__/,
    ],
  ];

  it.each(cases)('%s', async (_name, header, dataBytes, headerLength, tensor, message) => {
    const file = join(await freshDir(), 'model.safetensors');
    if (typeof header === 'string') {
      const prefix = Buffer.alloc(8);
      prefix.writeBigUInt64LE(BigInt(header.length));
      await writeFile(file, Buffer.concat([prefix, Buffer.from(header)]));
    } else {
      await writeRaw(file, header, dataBytes, headerLength);
    }
    const error = await rejection(SafetensorsFile.open(file));
    expect(error).toBeInstanceOf(SafetensorsFormatError);
    expect(error.code).toBe('E_SAFETENSORS');
    expect((error as SafetensorsFormatError).file).toBe(file);
    expect((error as SafetensorsFormatError).tensor).toBe(tensor);
    expect(error.message).toContain(file);
    if (tensor !== undefined) expect(error.message).toContain(`"${tensor}"`);
    expect(error.message).toMatch(message);
  });

  it('rejects a file too short for the length prefix', async () => {
    const file = join(await freshDir(), 'tiny.safetensors');
    await writeFile(file, Buffer.alloc(5));
    expect((await rejection(SafetensorsFile.open(file))).message).toMatch(/too short/);
  });

  it('reports a truncated file naming the tensor cut off', async () => {
    const file = join(await freshDir(), 'model.safetensors');
    await writeSafetensors(file, {
      first: { dtype: 'F32', shape: [4], data: new Float32Array(4) },
      last: { dtype: 'F32', shape: [4], data: new Float32Array(4) },
    });
    const size = (await readFile(file)).length;
    await truncate(file, size - 3);
    const error = await rejection(SafetensorsFile.open(file));
    expect(error).toBeInstanceOf(SafetensorsFormatError);
    expect((error as SafetensorsFormatError).tensor).toBe('last');
    expect(error.message).toMatch(/truncated/);
  });

  it('detects a file truncated after its header was read', async () => {
    const file = join(await freshDir(), 'model.safetensors');
    await writeSafetensors(file, { t: { dtype: 'F32', shape: [64], data: new Float32Array(64) } });
    const reader = await SafetensorsFile.open(file);
    await truncate(file, 100);
    const error = await rejection(reader.readFloat32('t'));
    expect(error).toBeInstanceOf(SafetensorsFormatError);
    expect(error.message).toMatch(/changed while loading/);
    await reader.close();
  });

  it('refuses dtypes it cannot widen, naming tensor and dtype, but reads their bytes', async () => {
    const file = join(await freshDir(), 'model.safetensors');
    await writeRaw(file, { q: entry('I8', [2, 2], 0, 4), w: entry('F64', [1], 4, 12) }, 12);
    const reader = await SafetensorsFile.open(file);
    for (const [name, dtype] of [
      ['q', 'I8'],
      ['w', 'F64'],
    ] as const) {
      const error = await rejection(reader.readFloat32(name));
      expect(error).toBeInstanceOf(UnsupportedDtypeError);
      expect(error.code).toBe('E_SAFETENSORS_DTYPE');
      expect(error.message).toContain(`"${name}"`);
      expect(error.message).toContain(dtype);
    }
    expect([...(await reader.readBytes('q'))]).toEqual([7, 7, 7, 7]);
    await reader.close();
  });
});

describe('SafetensorsCheckpoint', () => {
  it('opens a single-file checkpoint', async () => {
    const dir = await freshDir();
    await writeSafetensors(join(dir, 'model.safetensors'), {
      x: { dtype: 'F16', shape: [2], data: new Float32Array([1, 2]) },
    });
    const checkpoint = await SafetensorsCheckpoint.open(dir);
    expect(checkpoint.names()).toEqual(['x']);
    expect(checkpoint.info('x')).toEqual({ dtype: 'F16', shape: [2], file: join(dir, 'model.safetensors') });
    expect([...(await checkpoint.readFloat32('x'))]).toEqual([1, 2]);
    expect(() => checkpoint.info('nope')).toThrow(CheckpointError);
    await checkpoint.close();
  });

  it('opens a sharded checkpoint through its index, shard by shard', async () => {
    const dir = await freshDir();
    await writeSafetensors(join(dir, 'model-00001-of-00002.safetensors'), {
      a: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) },
      b: { dtype: 'BF16', shape: [1], data: new Float32Array([3]) },
    });
    await writeSafetensors(join(dir, 'model-00002-of-00002.safetensors'), {
      c: { dtype: 'F16', shape: [1, 1], data: new Float32Array([4]) },
    });
    const weightMap = {
      a: 'model-00001-of-00002.safetensors',
      c: 'model-00002-of-00002.safetensors',
      b: 'model-00001-of-00002.safetensors',
    };
    await writeFile(
      join(dir, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: { total_size: 14 }, weight_map: weightMap }),
    );
    const checkpoint = await SafetensorsCheckpoint.open(dir);
    expect(checkpoint.names()).toEqual(['a', 'c', 'b']);
    expect(checkpoint.info('c').file).toBe(join(dir, 'model-00002-of-00002.safetensors'));
    expect([...(await checkpoint.readFloat32('c'))]).toEqual([4]);
    expect([...(await checkpoint.readFloat32('b'))]).toEqual([3]);
    expect([...(await checkpoint.readFloat32('a'))]).toEqual([1, 2]);
    await checkpoint.close();
  });

  it('prefers model.safetensors over an index, as transformers does', async () => {
    const dir = await freshDir();
    await writeSafetensors(join(dir, 'model.safetensors'), {
      single: { dtype: 'F32', shape: [1], data: new Float32Array(1) },
    });
    await writeFile(
      join(dir, 'model.safetensors.index.json'),
      JSON.stringify({ weight_map: { other: 'x.safetensors' } }),
    );
    const checkpoint = await SafetensorsCheckpoint.open(dir);
    expect(checkpoint.names()).toEqual(['single']);
    await checkpoint.close();
  });

  it('opens any single file with openFile', async () => {
    const dir = await freshDir();
    await writeSafetensors(join(dir, 'goldens.safetensors'), {
      g: { dtype: 'F32', shape: [1], data: new Float32Array([5]) },
    });
    const checkpoint = await SafetensorsCheckpoint.openFile(join(dir, 'goldens.safetensors'));
    expect([...(await checkpoint.readFloat32('g'))]).toEqual([5]);
    expect(checkpoint.directory).toBe(dir);
    await checkpoint.close();
  });

  describe('errors', () => {
    async function sharded(
      weightMap: unknown,
      shards: Record<string, Record<string, number>> = {},
    ): Promise<string> {
      const dir = await freshDir();
      for (const [file, tensors] of Object.entries(shards)) {
        const contents = Object.fromEntries(
          Object.entries(tensors).map(([name, n]) => [
            name,
            { dtype: 'F32' as const, shape: [n], data: new Float32Array(n) },
          ]),
        );
        await writeSafetensors(join(dir, file), contents);
      }
      await writeFile(
        join(dir, 'model.safetensors.index.json'),
        typeof weightMap === 'string' ? weightMap : JSON.stringify({ weight_map: weightMap }),
      );
      return dir;
    }

    it('no checkpoint at all, with a hint for pytorch_model.bin', async () => {
      const dir = await freshDir();
      let error = await rejection(SafetensorsCheckpoint.open(dir));
      expect(error).toBeInstanceOf(CheckpointError);
      expect(error.code).toBe('E_CHECKPOINT');
      expect(error.message).toMatch(/no model\.safetensors or model\.safetensors\.index\.json/);
      await writeFile(join(dir, 'pytorch_model.bin'), 'x');
      error = await rejection(SafetensorsCheckpoint.open(dir));
      expect(error.message).toMatch(/pytorch_model\.bin checkpoints are not supported/);
    });

    it('corrupt index', async () => {
      const error = await rejection(SafetensorsCheckpoint.open(await sharded('{"weight_map": ')));
      expect(error).toBeInstanceOf(CheckpointError);
      expect(error.message).toMatch(/index\.json: cannot read index/);
    });

    it('index without weight_map', async () => {
      const dir = await freshDir();
      await writeFile(join(dir, 'model.safetensors.index.json'), '{"metadata": {}}');
      expect((await rejection(SafetensorsCheckpoint.open(dir))).message).toMatch(/no "weight_map"/);
    });

    it('missing shard file', async () => {
      const error = await rejection(SafetensorsCheckpoint.open(await sharded({ a: 'gone.safetensors' })));
      expect(error).toBeInstanceOf(CheckpointError);
      expect(error.message).toMatch(/gone\.safetensors: file not found/);
    });

    it('shard that lacks a tensor the index places in it', async () => {
      const error = await rejection(
        SafetensorsCheckpoint.open(
          await sharded({ a: 's1.safetensors', z: 's1.safetensors' }, { 's1.safetensors': { a: 1 } }),
        ),
      );
      expect(error).toBeInstanceOf(CheckpointError);
      expect((error as CheckpointError).tensor).toBe('z');
      expect(error.message).toMatch(/"s1\.safetensors", which does not hold it/);
    });

    it('shard outside the model directory', async () => {
      const error = await rejection(
        SafetensorsCheckpoint.open(await sharded({ a: '../elsewhere.safetensors' })),
      );
      expect(error.message).toMatch(/outside the model directory/);
    });

    it('malformed shard', async () => {
      const dir = await sharded({ a: 's.safetensors' });
      await writeRaw(
        join(dir, 's.safetensors'),
        { a: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } },
        4,
      );
      const error = await rejection(SafetensorsCheckpoint.open(dir));
      expect(error).toBeInstanceOf(SafetensorsFormatError);
      expect(error.message).toContain(join(dir, 's.safetensors'));
    });
  });
});
