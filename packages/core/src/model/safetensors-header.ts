// The safetensors format: an 8-byte little-endian header length, a JSON header, then the data
// buffer. Every entry is checked before any tensor is read, with the rules of the reference (Rust)
// implementation: known dtype, integer shape, offsets that match shape × dtype size, and tensors that
// tile the data buffer exactly (no overlap, no gap, nothing past the end, nothing left over).
import { SafetensorsFormatError } from './model-errors.js';

/** The most header bytes we accept (the reference implementation's limit). */
export const MAX_SAFETENSORS_HEADER_BYTES = 100_000_000;

/** Bits per element of every safetensors dtype (sub-byte types included, so their offsets validate). */
export const SAFETENSORS_DTYPE_BITS: Readonly<Record<string, number>> = {
  BOOL: 8,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  C64: 64,
  F64: 64,
  I64: 64,
  U64: 64,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
};

/** One validated header entry. Offsets are absolute positions in the file. */
export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  /** Number of elements (product of `shape`; 1 for a scalar). */
  readonly elementCount: number;
  /** First byte in the file. */
  readonly begin: number;
  /** One past the last byte in the file. */
  readonly end: number;
}

/** A validated header. */
export interface SafetensorsHeader {
  /** Entries in file order (ascending offsets). */
  readonly entries: ReadonlyMap<string, SafetensorsEntry>;
  /** `__metadata__`: free-form string pairs. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Where the data buffer starts: 8 + header length. */
  readonly dataStart: number;
}

/**
 * Reads the header length from the first 8 bytes of a file of `fileSize` bytes.
 *
 * @throws SafetensorsFormatError when the file is too short or the length is out of range.
 */
export function parseHeaderLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8 || prefix.length < 8) {
    throw new SafetensorsFormatError(
      file,
      undefined,
      `file has ${fileSize} bytes, too short for a safetensors header`,
    );
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const length = view.getBigUint64(0, true);
  if (length > BigInt(MAX_SAFETENSORS_HEADER_BYTES)) {
    throw new SafetensorsFormatError(
      file,
      undefined,
      `header length ${length} exceeds ${MAX_SAFETENSORS_HEADER_BYTES} bytes`,
    );
  }
  const headerLength = Number(length);
  if (8 + headerLength > fileSize) {
    throw new SafetensorsFormatError(
      file,
      undefined,
      `header of ${headerLength} bytes does not fit a file of ${fileSize} bytes (truncated?)`,
    );
  }
  return headerLength;
}

/**
 * Parses and validates the JSON header (the bytes after the 8-byte length) of a file of `fileSize`
 * bytes.
 *
 * @throws SafetensorsFormatError naming the file and the tensor at fault.
 */
export function parseSafetensorsHeader(
  headerBytes: Uint8Array,
  fileSize: number,
  file: string,
): SafetensorsHeader {
  const dataStart = 8 + headerBytes.length;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (error) {
    throw new SafetensorsFormatError(
      file,
      undefined,
      `header is not valid UTF-8 JSON: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new SafetensorsFormatError(file, undefined, 'header is not a JSON object');
  }

  let metadata: Record<string, string> = {};
  const unsorted: SafetensorsEntry[] = [];
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(value, file);
      continue;
    }
    unsorted.push(parseEntry(name, value, dataStart, file));
  }

  // Tensors must tile [dataStart, fileSize) in offset order.
  const sorted = unsorted.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = dataStart;
  let previous: SafetensorsEntry | undefined;
  for (const entry of sorted) {
    if (entry.begin < expected) {
      throw new SafetensorsFormatError(
        file,
        entry.name,
        `data_offsets overlap tensor "${previous?.name ?? '?'}" (starts at data byte ${entry.begin - dataStart}, ` +
          `that tensor ends at ${expected - dataStart})`,
      );
    }
    if (entry.begin > expected) {
      throw new SafetensorsFormatError(
        file,
        entry.name,
        `data_offsets leave a gap: starts at data byte ${entry.begin - dataStart}, expected ${expected - dataStart}`,
      );
    }
    if (entry.end > fileSize) {
      throw new SafetensorsFormatError(
        file,
        entry.name,
        `data ends at file byte ${entry.end} but the file has only ${fileSize} bytes (truncated?)`,
      );
    }
    expected = entry.end;
    previous = entry;
  }
  if (expected !== fileSize) {
    throw new SafetensorsFormatError(
      file,
      undefined,
      `${fileSize - expected} bytes after the last tensor's data; the header does not describe the whole file`,
    );
  }
  return { entries: new Map(sorted.map((entry) => [entry.name, entry])), metadata, dataStart };
}

function parseMetadata(value: unknown, file: string): Record<string, string> {
  if (value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new SafetensorsFormatError(file, undefined, '__metadata__ must be an object of strings');
  }
  const metadata: Record<string, string> = {};
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    if (typeof item !== 'string') {
      throw new SafetensorsFormatError(file, undefined, `__metadata__.${key} must be a string`);
    }
    metadata[key] = item;
  }
  return metadata;
}

function parseEntry(name: string, value: unknown, dataStart: number, file: string): SafetensorsEntry {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SafetensorsFormatError(
      file,
      name,
      'entry must be an object with dtype, shape and data_offsets',
    );
  }
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof dtype !== 'string') throw new SafetensorsFormatError(file, name, 'dtype must be a string');
  const bits = SAFETENSORS_DTYPE_BITS[dtype];
  if (bits === undefined) {
    throw new SafetensorsFormatError(file, name, `unknown dtype ${JSON.stringify(dtype)}`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw new SafetensorsFormatError(
      file,
      name,
      `shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`,
    );
  }
  let elementCount = 1;
  for (const d of shape as number[]) {
    elementCount *= d;
    if (!Number.isSafeInteger(elementCount))
      throw new SafetensorsFormatError(file, name, 'shape has too many elements');
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0) ||
    (offsets[0] as number) > (offsets[1] as number)
  ) {
    throw new SafetensorsFormatError(
      file,
      name,
      `data_offsets must be [begin, end] with 0 <= begin <= end, got ${JSON.stringify(offsets)}`,
    );
  }
  const [begin, end] = offsets as [number, number];
  const totalBits = elementCount * bits;
  if (totalBits % 8 !== 0) {
    throw new SafetensorsFormatError(
      file,
      name,
      `${elementCount} elements of ${dtype} do not fill whole bytes`,
    );
  }
  if (end - begin !== totalBits / 8) {
    throw new SafetensorsFormatError(
      file,
      name,
      `data_offsets [${begin}, ${end}] span ${end - begin} bytes, but shape [${(shape as number[]).join(', ')}] ` +
        `of ${dtype} needs ${totalBits / 8}`,
    );
  }
  return {
    name,
    dtype,
    shape: [...(shape as number[])],
    elementCount,
    begin: dataStart + begin,
    end: dataStart + end,
  };
}
