// The protobuf encoder against bytes worked out by hand from the wire-format rules.
import { describe, expect, it } from 'vitest';
import { encodeModel, writeTensor, writeValueInfo } from './onnx-proto.js';
import { ProtobufWriter } from './protobuf-writer.js';

const bytes = (w: ProtobufWriter): number[] => [...w.finish()];

describe('ProtobufWriter', () => {
  it('writes varints', () => {
    expect(bytes(new ProtobufWriter().varint(0))).toEqual([0x00]);
    expect(bytes(new ProtobufWriter().varint(1))).toEqual([0x01]);
    expect(bytes(new ProtobufWriter().varint(127))).toEqual([0x7f]);
    expect(bytes(new ProtobufWriter().varint(128))).toEqual([0x80, 0x01]);
    expect(bytes(new ProtobufWriter().varint(300))).toEqual([0xac, 0x02]);
    expect(bytes(new ProtobufWriter().varint(2 ** 31))).toEqual([0x80, 0x80, 0x80, 0x80, 0x08]);
    expect(bytes(new ProtobufWriter().varint(2 ** 35))).toEqual([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
    // int64 -1: ten bytes of two's complement.
    expect(bytes(new ProtobufWriter().varint(-1))).toEqual([...Array(9).fill(0xff), 0x01]);
    expect(bytes(new ProtobufWriter().varint((1n << 63n) - 1n))).toEqual([...Array(8).fill(0xff), 0x7f]);
  });

  it('rejects values that are not 64-bit integers', () => {
    expect(() => new ProtobufWriter().varint(1.5)).toThrow(/safe integer/);
    expect(() => new ProtobufWriter().varint(1n << 64n)).toThrow(/64 bits/);
    expect(() => new ProtobufWriter().key(0, 0)).toThrow(/field number/);
  });

  it('writes keys, ints, floats and strings', () => {
    // field 1 varint 150: 08 96 01 (the protobuf documentation's example)
    expect(bytes(new ProtobufWriter().int(1, 150))).toEqual([0x08, 0x96, 0x01]);
    // field 2 string "testing": 12 07 74 65 73 74 69 6e 67
    expect(bytes(new ProtobufWriter().string(2, 'testing'))).toEqual([
      0x12, 0x07, 0x74, 0x65, 0x73, 0x74, 0x69, 0x6e, 0x67,
    ]);
    // field 2 float 1.0: key 0x15, then 00 00 80 3f
    expect(bytes(new ProtobufWriter().float(2, 1))).toEqual([0x15, 0x00, 0x00, 0x80, 0x3f]);
    // field 20 (type of AttributeProto) = 2: key (20 << 3) = 160 = a0 01
    expect(bytes(new ProtobufWriter().int(20, 2))).toEqual([0xa0, 0x01, 0x02]);
  });

  it('writes packed repeated ints with one key and a byte length', () => {
    // field 4 packed [3, 270, 86942]: 22 06 03 8e 02 9e a7 05 (protobuf documentation's example)
    expect(bytes(new ProtobufWriter().packedInts(4, [3, 270, 86942]))).toEqual([
      0x22, 0x06, 0x03, 0x8e, 0x02, 0x9e, 0xa7, 0x05,
    ]);
    expect(bytes(new ProtobufWriter().packedInts(4, []))).toEqual([]);
  });

  it('writes nested messages with length prefixes', () => {
    // field 3 message { field 1 = 150 }: 1a 03 08 96 01
    expect(bytes(new ProtobufWriter().message(3, (w) => w.int(1, 150)))).toEqual([
      0x1a, 0x03, 0x08, 0x96, 0x01,
    ]);
    const twoLevels = new ProtobufWriter().message(1, (w) => w.message(2, (x) => x.string(1, 'ab')));
    expect(bytes(twoLevels)).toEqual([0x0a, 0x06, 0x12, 0x04, 0x0a, 0x02, 0x61, 0x62]);
  });

  it('keeps large byte fields by reference and assembles them in order', () => {
    const big = new Uint8Array(1000).map((_, i) => i & 0xff);
    const writer = new ProtobufWriter().int(1, 5).bytes(2, big).int(3, 7);
    const out = writer.finish();
    expect(writer.byteLength).toBe(2 + 3 + 1000 + 2);
    expect([...out.subarray(0, 5)]).toEqual([0x08, 0x05, 0x12, 0xe8, 0x07]);
    expect(out.subarray(5, 1005)).toEqual(big);
    expect([...out.subarray(1005)]).toEqual([0x18, 0x07]);
    expect(writer.toChunks().some((chunk) => chunk === big)).toBe(true);
  });
});

describe('ONNX messages', () => {
  it('encodes a TensorProto with raw data', () => {
    const w = new ProtobufWriter();
    writeTensor(w, { name: 'w', dims: [2, 1], dataType: 1, rawData: new Uint8Array(8) });
    // dims packed (0a 02 02 01), data_type (10 01), name (42 01 77), raw_data (4a 08 + 8 zeros)
    expect(bytes(w)).toEqual([
      0x0a,
      0x02,
      0x02,
      0x01,
      0x10,
      0x01,
      0x42,
      0x01,
      0x77,
      0x4a,
      0x08,
      ...Array(8).fill(0),
    ]);
  });

  it('encodes a TensorProto with external data', () => {
    const w = new ProtobufWriter();
    writeTensor(w, {
      name: 'e',
      dims: [1],
      dataType: 1,
      externalData: { location: 'd', offset: 0, length: 4 },
    });
    const entry = (k: string, v: string) => [
      0x6a,
      4 + k.length + v.length,
      0x0a,
      k.length,
      ...[...k].map((c) => c.charCodeAt(0)),
      0x12,
      v.length,
      ...[...v].map((c) => c.charCodeAt(0)),
    ];
    expect(bytes(w)).toEqual([
      0x0a,
      0x01,
      0x01,
      0x10,
      0x01,
      0x42,
      0x01,
      0x65,
      ...entry('location', 'd'),
      ...entry('offset', '0'),
      ...entry('length', '4'),
      0x70,
      0x01,
    ]);
  });

  it('encodes a ValueInfoProto with fixed and symbolic dims', () => {
    const w = new ProtobufWriter();
    writeValueInfo(w, { name: 'x', elemType: 7, dims: ['T', 3] });
    // name; type { tensor_type { elem_type 7; shape { dim { dim_param "T" } dim { dim_value 3 } } } }
    expect(bytes(w)).toEqual([
      0x0a, 0x01, 0x78, 0x12, 0x0f, 0x0a, 0x0d, 0x08, 0x07, 0x12, 0x09, 0x0a, 0x03, 0x12, 0x01, 0x54, 0x0a,
      0x02, 0x08, 0x03,
    ]);
  });

  it('encodes a ModelProto with ir_version, graph and opset_import', () => {
    const model = encodeModel({
      irVersion: 8,
      opsetImports: [{ domain: '', version: 17 }],
      graph: { name: 'g', nodes: [], initializers: [], inputs: [], outputs: [] },
    });
    expect(bytes(model)).toEqual([0x08, 0x08, 0x3a, 0x03, 0x12, 0x01, 0x67, 0x42, 0x02, 0x10, 0x11]);
  });
});
