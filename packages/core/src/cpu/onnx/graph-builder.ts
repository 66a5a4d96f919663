// An ergonomic way to assemble an ONNX graph in code: named inputs, initializers from typed arrays,
// nodes that return their output names, then bytes or a directory with external weight data (so
// models beyond protobuf's 2 GB limit load in onnxruntime).
import { open, writeFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { OnnxGraphError } from './onnx-errors.js';
import {
  type AttributeSpec,
  type DimSpec,
  encodeModel,
  type NodeSpec,
  TensorDataType,
  type TensorDataTypeValue,
  type TensorSpec,
  type ValueInfoSpec,
} from './onnx-proto.js';

/** Element types accepted by {@link GraphBuilder.input} and {@link GraphBuilder.output}. */
export type ElementType = 'float32' | 'int64' | 'int32' | 'bool';

/** Typed arrays accepted as initializer data, mapped to their ONNX element type. */
export type InitializerData = Float32Array | BigInt64Array | Int32Array | Uint8Array | Int8Array;

/** Attribute value: a number is an `int`, a number array `ints`; floats, strings and tensors are wrapped. */
export type AttributeValue =
  | number
  | bigint
  | readonly (number | bigint)[]
  | { readonly float: number }
  | { readonly floats: readonly number[] }
  | { readonly string: string }
  | { readonly tensor: TensorSpec };

/** Options of {@link GraphBuilder}. */
export interface GraphBuilderOptions {
  /** Default-domain opset version (default 17). */
  readonly opset?: number;
  /** Extra operator sets, e.g. `{ 'com.microsoft': 1 }`. */
  readonly extraOpsets?: Readonly<Record<string, number>>;
  /** Graph name (default 'graph'). */
  readonly name?: string;
  /** IR version (default 8, which onnxruntime ≥ 1.14 reads). */
  readonly irVersion?: number;
}

/** Options of {@link GraphBuilder.node}. */
export interface NodeOptions {
  /** Output names (default: one generated name). */
  readonly outputs?: readonly string[];
  /** Number of generated outputs when `outputs` is absent (default 1). */
  readonly outputCount?: number;
  readonly domain?: string;
  /** Node name (default: generated). */
  readonly name?: string;
}

/** Options of {@link GraphBuilder.writeTo}. */
export interface WriteOptions {
  /** Model file name (default 'model.onnx'). */
  readonly modelFile?: string;
  /** External data file name (default `<modelFile>.data`). */
  readonly dataFile?: string;
  /** Initializers of at least this many bytes go to the external file (default 1024). */
  readonly externalThreshold?: number;
}

/** Paths written by {@link GraphBuilder.writeTo}. */
export interface WrittenModel {
  readonly modelPath: string;
  /** Absent when every initializer stayed inline. */
  readonly dataPath?: string;
  /** Bytes of the .onnx file and of the external data file. */
  readonly modelBytes: number;
  readonly dataBytes: number;
}

interface Initializer {
  readonly name: string;
  readonly dims: readonly number[];
  readonly dataType: TensorDataTypeValue;
  readonly bytes: Uint8Array;
}

const ELEMENT_TYPES: Record<ElementType, TensorDataTypeValue> = {
  float32: TensorDataType.float,
  int64: TensorDataType.int64,
  int32: TensorDataType.int32,
  bool: TensorDataType.bool,
};

/** External tensors start at multiples of this, so onnxruntime can map them. */
const EXTERNAL_ALIGNMENT = 4096;

/**
 * Builds one ONNX graph. Names are checked for uniqueness as they are declared; node inputs must
 * name a declared input, initializer or earlier node output (or '' for an absent optional input),
 * so nodes come out topologically sorted.
 */
export class GraphBuilder {
  private readonly opset: number;
  private readonly extraOpsets: Readonly<Record<string, number>>;
  private readonly name: string;
  private readonly irVersion: number;
  private readonly inputs: ValueInfoSpec[] = [];
  private readonly outputs: ValueInfoSpec[] = [];
  private readonly initializers: Initializer[] = [];
  private readonly nodes: NodeSpec[] = [];
  private readonly names = new Set<string>();
  private readonly constants = new Map<string, string>();
  private counter = 0;

  constructor(options: GraphBuilderOptions = {}) {
    if (endianness() !== 'LE') throw new OnnxGraphError('ONNX raw tensor data needs a little-endian host');
    this.opset = options.opset ?? 17;
    this.extraOpsets = options.extraOpsets ?? {};
    this.name = options.name ?? 'graph';
    this.irVersion = options.irVersion ?? 8;
  }

  /** Number of nodes so far. */
  get nodeCount(): number {
    return this.nodes.length;
  }

  /** Declares a graph input; returns its name. `dims` entries are sizes or symbolic names. */
  input(name: string, type: ElementType, dims: readonly DimSpec[]): string {
    this.declare(name, 'input');
    this.inputs.push({ name, elemType: ELEMENT_TYPES[type], dims });
    return name;
  }

  /**
   * Declares an initializer holding `data` (not copied: do not modify it afterwards); returns its
   * name. `dims` must multiply to `data.length`.
   */
  initializer(name: string, data: InitializerData, dims: readonly number[]): string {
    const count = dims.reduce((a, b) => a * b, 1);
    if (count !== data.length) {
      throw new OnnxGraphError(
        `initializer ${name}: dims [${dims.join(', ')}] hold ${count} values, data has ${data.length}`,
      );
    }
    this.declare(name, 'initializer');
    this.initializers.push({
      name,
      dims: [...dims],
      dataType: dataTypeOf(data),
      bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    });
    return name;
  }

  /** A small int64 constant initializer (deduplicated by value and shape); returns its name. */
  int64s(values: readonly (number | bigint)[], dims: readonly number[] = [values.length]): string {
    const key = `i64:${dims.join('x')}:${values.join(',')}`;
    const known = this.constants.get(key);
    if (known !== undefined) return known;
    const name = this.fresh('const_i64');
    this.initializer(
      name,
      BigInt64Array.from(values, (v) => BigInt(v)),
      dims,
    );
    this.constants.set(key, name);
    return name;
  }

  /** A small float32 constant initializer (deduplicated by value and shape); returns its name. */
  float32s(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const key = `f32:${dims.join('x')}:${values.join(',')}`;
    const known = this.constants.get(key);
    if (known !== undefined) return known;
    const name = this.fresh('const_f32');
    this.initializer(name, Float32Array.from(values), dims);
    this.constants.set(key, name);
    return name;
  }

  /** Adds a node with one output; returns the output's name. */
  node(
    opType: string,
    inputs: readonly string[],
    attributes: Record<string, AttributeValue> = {},
    options: NodeOptions = {},
  ): string {
    const outputs = this.nodeOutputs(opType, inputs, attributes, { ...options, outputCount: 1 });
    return outputs[0]!;
  }

  /** Adds a node with several outputs; returns their names. */
  nodeOutputs(
    opType: string,
    inputs: readonly string[],
    attributes: Record<string, AttributeValue> = {},
    options: NodeOptions = {},
  ): string[] {
    for (const input of inputs) {
      if (input !== '' && !this.names.has(input)) {
        throw new OnnxGraphError(`${opType} node: input "${input}" is not defined yet`);
      }
    }
    const outputs = options.outputs
      ? [...options.outputs]
      : Array.from({ length: options.outputCount ?? 1 }, () => this.fresh(opType.toLowerCase()));
    for (const output of outputs) this.declare(output, `${opType} output`);
    const converted: Record<string, AttributeSpec> = {};
    for (const [name, value] of Object.entries(attributes))
      converted[name] = toAttribute(opType, name, value);
    this.nodes.push({
      opType,
      inputs: [...inputs],
      outputs,
      name: options.name ?? `${opType}_${this.nodes.length}`,
      ...(options.domain !== undefined && { domain: options.domain }),
      attributes: converted,
    });
    return outputs;
  }

  /** Declares `value` (an existing name) a graph output of the given type and shape. */
  output(value: string, type: ElementType, dims: readonly DimSpec[]): void {
    if (!this.names.has(value)) throw new OnnxGraphError(`output "${value}" is not defined`);
    if (this.outputs.some((o) => o.name === value)) {
      throw new OnnxGraphError(`"${value}" is already a graph output`);
    }
    this.outputs.push({ name: value, elemType: ELEMENT_TYPES[type], dims });
  }

  /** Renames: adds an Identity node producing `name` from `value`; returns `name`. */
  alias(value: string, name: string): string {
    return this.node('Identity', [value], {}, { outputs: [name] });
  }

  /** The whole model as bytes, every initializer inline. Fails beyond protobuf's 2 GB. */
  toModelBytes(): Uint8Array {
    const writer = encodeModel(this.modelSpec(this.initializers.map(inlineTensor)));
    if (writer.byteLength >= 2 ** 31) {
      throw new OnnxGraphError(
        `model is ${writer.byteLength} bytes; protobuf allows < 2 GiB inline: use writeTo() with external data`,
      );
    }
    return writer.finish();
  }

  /**
   * Writes `<directory>/<modelFile>` and, when some initializer is at least `externalThreshold`
   * bytes, `<directory>/<dataFile>` holding those tensors at 4096-byte aligned offsets.
   */
  async writeTo(directory: string, options: WriteOptions = {}): Promise<WrittenModel> {
    const modelFile = options.modelFile ?? 'model.onnx';
    const dataFile = options.dataFile ?? `${modelFile}.data`;
    const threshold = options.externalThreshold ?? 1024;
    const dataPath = join(directory, dataFile);
    const tensors: TensorSpec[] = [];
    let dataBytes = 0;
    const external: { offset: number; bytes: Uint8Array }[] = [];
    for (const init of this.initializers) {
      if (init.bytes.byteLength < threshold) {
        tensors.push(inlineTensor(init));
        continue;
      }
      const offset = Math.ceil(dataBytes / EXTERNAL_ALIGNMENT) * EXTERNAL_ALIGNMENT;
      external.push({ offset, bytes: init.bytes });
      dataBytes = offset + init.bytes.byteLength;
      tensors.push({
        name: init.name,
        dims: init.dims,
        dataType: init.dataType,
        externalData: { location: dataFile, offset, length: init.bytes.byteLength },
      });
    }
    if (external.length > 0) {
      const handle = await open(dataPath, 'w');
      try {
        for (const { offset, bytes } of external) {
          // Writes of at most 1 GiB each: larger single writes are not guaranteed to complete.
          for (let done = 0; done < bytes.byteLength; ) {
            const part = bytes.subarray(done, Math.min(bytes.byteLength, done + 2 ** 30));
            const { bytesWritten } = await handle.write(part, 0, part.byteLength, offset + done);
            done += bytesWritten;
          }
        }
      } finally {
        await handle.close();
      }
    }
    const writer = encodeModel(this.modelSpec(tensors));
    if (writer.byteLength >= 2 ** 31) {
      throw new OnnxGraphError(`model proto is ${writer.byteLength} bytes; lower externalThreshold`);
    }
    const modelPath = join(directory, modelFile);
    await writeFile(modelPath, writer.toChunks());
    return {
      modelPath,
      ...(external.length > 0 && { dataPath }),
      modelBytes: writer.byteLength,
      dataBytes,
    };
  }

  private modelSpec(initializers: TensorSpec[]) {
    return {
      irVersion: this.irVersion,
      producerName: 'duo-attn',
      opsetImports: [
        { domain: '', version: this.opset },
        ...Object.entries(this.extraOpsets).map(([domain, version]) => ({ domain, version })),
      ],
      graph: {
        name: this.name,
        nodes: this.nodes,
        initializers,
        inputs: this.inputs,
        outputs: this.outputs,
      },
    };
  }

  private declare(name: string, what: string): void {
    if (name === '') throw new OnnxGraphError(`${what}: empty name`);
    if (this.names.has(name)) throw new OnnxGraphError(`${what}: name "${name}" is already defined`);
    this.names.add(name);
  }

  private fresh(prefix: string): string {
    let name: string;
    do name = `${prefix}_${this.counter++}`;
    while (this.names.has(name));
    return name;
  }
}

function inlineTensor(init: Initializer): TensorSpec {
  return { name: init.name, dims: init.dims, dataType: init.dataType, rawData: init.bytes };
}

function dataTypeOf(data: InitializerData): TensorDataTypeValue {
  if (data instanceof Float32Array) return TensorDataType.float;
  if (data instanceof BigInt64Array) return TensorDataType.int64;
  if (data instanceof Int32Array) return TensorDataType.int32;
  if (data instanceof Int8Array) return TensorDataType.int8;
  return TensorDataType.uint8;
}

function toAttribute(opType: string, name: string, value: AttributeValue): AttributeSpec {
  if (typeof value === 'number' || typeof value === 'bigint') {
    if (typeof value === 'number' && !Number.isInteger(value)) {
      throw new OnnxGraphError(`${opType}.${name}: ${value} is not an integer; wrap floats as { float: x }`);
    }
    return { type: 'int', value };
  }
  if (Array.isArray(value)) return { type: 'ints', value: value as readonly (number | bigint)[] };
  if ('float' in value) return { type: 'float', value: value.float };
  if ('floats' in value) return { type: 'floats', value: value.floats };
  if ('string' in value) return { type: 'string', value: value.string };
  if ('tensor' in value) return { type: 'tensor', value: value.tensor };
  throw new OnnxGraphError(`${opType}.${name}: unsupported attribute value`);
}
