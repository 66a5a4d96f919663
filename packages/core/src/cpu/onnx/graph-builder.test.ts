// Graphs built with GraphBuilder load and run in onnxruntime-node, inline and with external data.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from './graph-builder.js';

const ort = await import('onnxruntime-node');

/** y = x @ w + b with x [T, 3], w [3, 2], b [2]; plus an int attribute and a float attribute in use. */
function matMulAdd(): GraphBuilder {
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', ['T', 3]);
  const w = g.initializer('w', Float32Array.from([1, 2, 3, 4, 5, 6]), [3, 2]);
  const b = g.initializer('b', Float32Array.from([0.5, -0.5]), [2]);
  const y = g.node('Add', [g.node('MatMul', [x, w]), b]);
  // Scale by 2 via an attribute-carrying op, then a Softmax on axis -1 (negative int attribute).
  const scaled = g.node('Mul', [y, g.float32s([2])]);
  g.alias(scaled, 'y');
  g.output('y', 'float32', ['T', 2]);
  g.output(g.node('Softmax', [scaled], { axis: -1 }, { outputs: ['p'] }), 'float32', ['T', 2]);
  return g;
}

const x = Float32Array.from([1, 0, 0, 0, 1, -1]);
const expected = [2 * (1 + 0.5), 2 * (2 - 0.5), 2 * (3 - 5 + 0.5), 2 * (4 - 6 - 0.5)];

const directories: string[] = [];
afterAll(async () => {
  for (const dir of directories) await rm(dir, { recursive: true, force: true });
});

describe('GraphBuilder in onnxruntime', () => {
  it('runs an inline model', async () => {
    const session = await ort.InferenceSession.create(matMulAdd().toModelBytes());
    const out = await session.run({ x: new ort.Tensor('float32', x, [2, 3]) });
    expect([...(out.y!.data as Float32Array)]).toEqual(expected);
    expect(out.y!.dims).toEqual([2, 2]);
    const p = out.p!.data as Float32Array;
    expect(p[0]! + p[1]!).toBeCloseTo(1, 6);
    expect(p[0]! / p[1]!).toBeCloseTo(Math.exp(expected[0]! - expected[1]!), 4);
    await session.release();
  });

  it('runs a model whose weights are external data', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'duo-onnx-'));
    directories.push(dir);
    const written = await matMulAdd().writeTo(dir, { externalThreshold: 8 });
    expect(written.dataPath).toBe(join(dir, 'model.onnx.data'));
    // w (24 bytes) at offset 0, b (8 bytes) at the next 4096-byte boundary.
    expect((await stat(written.dataPath!)).size).toBe(4096 + 8);
    const data = new Float32Array((await readFile(written.dataPath!)).buffer.slice(4096));
    expect([...data]).toEqual([0.5, -0.5]);
    const session = await ort.InferenceSession.create(written.modelPath);
    const out = await session.run({ x: new ort.Tensor('float32', x, [2, 3]) });
    expect([...(out.y!.data as Float32Array)]).toEqual(expected);
    await session.release();
  });

  it('rejects undefined inputs and duplicate names', () => {
    const g = new GraphBuilder();
    g.input('x', 'float32', [1]);
    expect(() => g.node('Relu', ['nope'])).toThrow(/"nope" is not defined/);
    expect(() => g.input('x', 'float32', [1])).toThrow(/already defined/);
    expect(() => g.initializer('w', new Float32Array(3), [2])).toThrow(/hold 2 values/);
    expect(() => g.node('Softmax', ['x'], { axis: 0.5 })).toThrow(/not an integer/);
  });
});
