// Typed descriptions of the subset of onnx.proto the CPU backend writes, and their encoders.
// Field numbers follow onnx/onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto,
// TensorProto, ValueInfoProto, TypeProto, TensorShapeProto, OperatorSetIdProto).
import { OnnxEncodeError } from './onnx-errors.js';
import { ProtobufWriter } from './protobuf-writer.js';

/** `TensorProto.DataType` values used here. */
export const TensorDataType = {
  float: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  double: 11,
} as const;

/** One of {@link TensorDataType}'s values. */
export type TensorDataTypeValue = (typeof TensorDataType)[keyof typeof TensorDataType];

/** Where an external tensor's bytes lie, relative to the model file's directory. */
export interface ExternalDataRef {
  /** POSIX path relative to the model's directory. */
  readonly location: string;
  /** Byte offset in that file. */
  readonly offset: number;
  /** Byte count. */
  readonly length: number;
}

/** A `TensorProto`: either inline `rawData` (little-endian) or `externalData`. */
export interface TensorSpec {
  readonly name: string;
  readonly dims: readonly number[];
  readonly dataType: TensorDataTypeValue;
  readonly rawData?: Uint8Array;
  readonly externalData?: ExternalDataRef;
}

/** An `AttributeProto` value, tagged by its type. */
export type AttributeSpec =
  | { readonly type: 'int'; readonly value: number | bigint }
  | { readonly type: 'ints'; readonly value: readonly (number | bigint)[] }
  | { readonly type: 'float'; readonly value: number }
  | { readonly type: 'floats'; readonly value: readonly number[] }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'tensor'; readonly value: TensorSpec };

/** A `NodeProto`. */
export interface NodeSpec {
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly name?: string;
  /** Operator set domain; absent or '' is the default ONNX domain. */
  readonly domain?: string;
  readonly attributes?: Readonly<Record<string, AttributeSpec>>;
}

/** A dimension: a fixed size or a symbolic name. */
export type DimSpec = number | string;

/** A `ValueInfoProto` of tensor type. */
export interface ValueInfoSpec {
  readonly name: string;
  readonly elemType: TensorDataTypeValue;
  readonly dims: readonly DimSpec[];
}

/** A `GraphProto`. */
export interface GraphSpec {
  readonly name: string;
  readonly nodes: readonly NodeSpec[];
  readonly initializers: readonly TensorSpec[];
  readonly inputs: readonly ValueInfoSpec[];
  readonly outputs: readonly ValueInfoSpec[];
}

/** A `ModelProto`. */
export interface ModelSpec {
  readonly irVersion: number;
  readonly opsetImports: readonly { readonly domain: string; readonly version: number }[];
  readonly producerName?: string;
  readonly graph: GraphSpec;
}

// AttributeProto.AttributeType
const ATTRIBUTE_TYPE = { float: 1, int: 2, string: 3, tensor: 4, floats: 6, ints: 7 } as const;

/** Encodes a whole model. The result references the tensors' raw data until finished. */
export function encodeModel(model: ModelSpec): ProtobufWriter {
  const writer = new ProtobufWriter();
  writer.int(1, model.irVersion);
  if (model.producerName !== undefined) writer.string(2, model.producerName);
  writer.message(7, (graph) => writeGraph(graph, model.graph));
  for (const opset of model.opsetImports) {
    writer.message(8, (w) => {
      if (opset.domain !== '') w.string(1, opset.domain);
      w.int(2, opset.version);
    });
  }
  return writer;
}

/** Writes a `GraphProto`'s fields. */
export function writeGraph(writer: ProtobufWriter, graph: GraphSpec): void {
  for (const node of graph.nodes) writer.message(1, (w) => writeNode(w, node));
  writer.string(2, graph.name);
  for (const tensor of graph.initializers) writer.message(5, (w) => writeTensor(w, tensor));
  for (const input of graph.inputs) writer.message(11, (w) => writeValueInfo(w, input));
  for (const output of graph.outputs) writer.message(12, (w) => writeValueInfo(w, output));
}

/** Writes a `NodeProto`'s fields. */
export function writeNode(writer: ProtobufWriter, node: NodeSpec): void {
  for (const input of node.inputs) writer.string(1, input);
  for (const output of node.outputs) writer.string(2, output);
  if (node.name !== undefined) writer.string(3, node.name);
  writer.string(4, node.opType);
  for (const [name, attribute] of Object.entries(node.attributes ?? {})) {
    writer.message(5, (w) => writeAttribute(w, name, attribute));
  }
  if (node.domain !== undefined && node.domain !== '') writer.string(7, node.domain);
}

/** Writes an `AttributeProto`'s fields. */
export function writeAttribute(writer: ProtobufWriter, name: string, attribute: AttributeSpec): void {
  writer.string(1, name);
  switch (attribute.type) {
    case 'float':
      writer.float(2, attribute.value);
      break;
    case 'int':
      writer.int(3, attribute.value);
      break;
    case 'string':
      writer.string(4, attribute.value);
      break;
    case 'tensor':
      writer.message(5, (w) => writeTensor(w, attribute.value));
      break;
    case 'floats':
      writer.packedFloats(7, attribute.value);
      break;
    case 'ints':
      writer.packedInts(8, attribute.value);
      break;
    default:
      throw new OnnxEncodeError(`attribute ${name}: unknown type ${(attribute as { type: string }).type}`);
  }
  writer.int(20, ATTRIBUTE_TYPE[attribute.type]);
}

/** Writes a `TensorProto`'s fields (dims packed, then type, name, data or external reference). */
export function writeTensor(writer: ProtobufWriter, tensor: TensorSpec): void {
  for (const dim of tensor.dims) {
    if (!Number.isSafeInteger(dim) || dim < 0) {
      throw new OnnxEncodeError(`tensor ${tensor.name}: bad dimension ${dim}`);
    }
  }
  if ((tensor.rawData === undefined) === (tensor.externalData === undefined)) {
    throw new OnnxEncodeError(`tensor ${tensor.name}: give exactly one of rawData and externalData`);
  }
  writer.packedInts(1, tensor.dims);
  writer.int(2, tensor.dataType);
  writer.string(8, tensor.name);
  if (tensor.rawData !== undefined) {
    writer.bytes(9, tensor.rawData);
    return;
  }
  const external = tensor.externalData!;
  const entries: [string, string][] = [
    ['location', external.location],
    ['offset', String(external.offset)],
    ['length', String(external.length)],
  ];
  for (const [key, value] of entries) {
    writer.message(13, (w) => w.string(1, key).string(2, value));
  }
  writer.int(14, 1); // DataLocation.EXTERNAL
}

/** Writes a `ValueInfoProto` whose type is a tensor with the given element type and shape. */
export function writeValueInfo(writer: ProtobufWriter, info: ValueInfoSpec): void {
  writer.string(1, info.name);
  writer.message(2, (type) =>
    type.message(1, (tensorType) => {
      tensorType.int(1, info.elemType);
      tensorType.message(2, (shape) => {
        for (const dim of info.dims) {
          shape.message(1, (d) => {
            if (typeof dim === 'number') {
              if (!Number.isSafeInteger(dim) || dim < 0) {
                throw new OnnxEncodeError(`value ${info.name}: bad dimension ${dim}`);
              }
              d.int(1, dim);
            } else d.string(2, dim);
          });
        }
      });
    }),
  );
}
