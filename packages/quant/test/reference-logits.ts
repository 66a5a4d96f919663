// Every position's logits of `ids` on the reference backend under full attention (test helper).
import { createReferenceBackend, fullPolicy, type ModelSource } from '@duo-attn/core';

export async function allLogits(model: ModelSource, ids: readonly number[]): Promise<Float32Array> {
  const executor = await createReferenceBackend().load(model, fullPolicy(model.config), {
    maxTokens: ids.length,
  });
  try {
    return (await executor.forward(0, ids, { allLogits: true })).logits;
  } finally {
    await executor.dispose();
  }
}
