// A minimal protobuf wire-format encoder: enough of the format to write ONNX models without a
// protobuf dependency. Large byte fields are kept by reference (not copied) until the final bytes
// are assembled, so multi-hundred-megabyte tensors cost one copy at most.
import { OnnxEncodeError } from './onnx-errors.js';

/** Protobuf wire types (the low 3 bits of a field key). */
export const WireType = {
  varint: 0,
  fixed64: 1,
  lengthDelimited: 2,
  fixed32: 5,
} as const;

/** One of {@link WireType}'s values. */
export type WireTypeValue = (typeof WireType)[keyof typeof WireType];

/** Byte fields at least this long are referenced instead of copied into the scratch buffer. */
const REFERENCE_THRESHOLD = 256;
const SCRATCH_SIZE = 4096;
const UINT64_MASK = (1n << 64n) - 1n;

/**
 * Appends protobuf fields in call order. Integers are varints (`int64` semantics: negative values
 * take ten bytes, two's complement); `float` is fixed32 little-endian; nested messages are written
 * by a callback into a child writer whose length becomes the field's length prefix.
 */
export class ProtobufWriter {
  private readonly chunks: Uint8Array[] = [];
  private flushedBytes = 0;
  private scratch = new Uint8Array(SCRATCH_SIZE);
  private used = 0;

  /** Bytes written so far. */
  get byteLength(): number {
    return this.flushedBytes + this.used;
  }

  /** Writes a bare varint (no key). `value` must be an integer in [-2^63, 2^64). */
  varint(value: number | bigint): this {
    if (typeof value === 'number') {
      if (!Number.isSafeInteger(value)) {
        throw new OnnxEncodeError(`varint value ${value} is not a safe integer (pass a bigint)`);
      }
      if (value >= 0 && value < 0x8000_0000) {
        this.reserve(5);
        let v = value;
        while (v >= 0x80) {
          this.scratch[this.used++] = (v & 0x7f) | 0x80;
          v >>>= 7;
        }
        this.scratch[this.used++] = v;
        return this;
      }
      return this.varint(BigInt(value));
    }
    if (value < -(1n << 63n) || value > UINT64_MASK) {
      throw new OnnxEncodeError(`varint value ${value} does not fit in 64 bits`);
    }
    let v = value & UINT64_MASK;
    this.reserve(10);
    while (v >= 0x80n) {
      this.scratch[this.used++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.scratch[this.used++] = Number(v);
    return this;
  }

  /** Writes a field key: `(field << 3) | wireType`. */
  key(field: number, wireType: WireTypeValue): this {
    if (!Number.isSafeInteger(field) || field < 1 || field > 0x1fff_ffff) {
      throw new OnnxEncodeError(`protobuf field number ${field} is out of range [1, 2^29)`);
    }
    return this.varint(field * 8 + wireType);
  }

  /** An `int64`/`int32`/`enum`/`bool` field (varint). */
  int(field: number, value: number | bigint): this {
    return this.key(field, WireType.varint).varint(value);
  }

  /** A `float` field (fixed32, little-endian IEEE 754 single). */
  float(field: number, value: number): this {
    this.key(field, WireType.fixed32);
    this.reserve(4);
    new DataView(this.scratch.buffer, this.scratch.byteOffset).setFloat32(this.used, value, true);
    this.used += 4;
    return this;
  }

  /** A `bytes` field. Large arrays are referenced, so do not modify them before {@link finish}. */
  bytes(field: number, value: Uint8Array): this {
    this.key(field, WireType.lengthDelimited).varint(value.byteLength);
    return this.raw(value);
  }

  /** A `string` field (UTF-8). */
  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  /** A packed `repeated int64` field: one key, a length, then the varints. Nothing when empty. */
  packedInts(field: number, values: readonly (number | bigint)[]): this {
    if (values.length === 0) return this;
    const body = new ProtobufWriter();
    for (const value of values) body.varint(value);
    return this.key(field, WireType.lengthDelimited).varint(body.byteLength).append(body);
  }

  /** A packed `repeated float` field. Nothing when empty. */
  packedFloats(field: number, values: readonly number[]): this {
    if (values.length === 0) return this;
    const bytes = new Uint8Array(values.length * 4);
    const view = new DataView(bytes.buffer);
    values.forEach((value, i) => {
      view.setFloat32(i * 4, value, true);
    });
    return this.bytes(field, bytes);
  }

  /** A nested message field, whose content `build` writes into a fresh writer. */
  message(field: number, build: (writer: ProtobufWriter) => void): this {
    const child = new ProtobufWriter();
    build(child);
    return this.key(field, WireType.lengthDelimited).varint(child.byteLength).append(child);
  }

  /** The encoded bytes as a list of chunks (no copy of referenced byte fields). */
  toChunks(): Uint8Array[] {
    this.flush();
    return [...this.chunks];
  }

  /** The encoded bytes as one array. */
  finish(): Uint8Array {
    this.flush();
    if (this.chunks.length === 1) return this.chunks[0]!;
    const out = new Uint8Array(this.flushedBytes);
    let offset = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return out;
  }

  /** Appends another writer's bytes. */
  private append(other: ProtobufWriter): this {
    for (const chunk of other.toChunks()) this.raw(chunk);
    return this;
  }

  private raw(bytes: Uint8Array): this {
    if (bytes.byteLength < REFERENCE_THRESHOLD) {
      this.reserve(bytes.byteLength);
      this.scratch.set(bytes, this.used);
      this.used += bytes.byteLength;
    } else {
      this.flush();
      this.chunks.push(bytes);
      this.flushedBytes += bytes.byteLength;
    }
    return this;
  }

  private reserve(bytes: number): void {
    if (this.used + bytes <= this.scratch.byteLength) return;
    this.flush();
    if (bytes > this.scratch.byteLength) this.scratch = new Uint8Array(bytes);
  }

  private flush(): void {
    if (this.used === 0) return;
    this.chunks.push(this.scratch.slice(0, this.used));
    this.flushedBytes += this.used;
    this.used = 0;
  }
}
