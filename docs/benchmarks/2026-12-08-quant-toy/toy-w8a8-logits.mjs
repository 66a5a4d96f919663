// Toy W8A8 logits vs the float model on 512 positions of generated text the calibration did not see.
// Run from apps/cli (so the workspace packages resolve): node toy-w8a8-logits.mjs MODEL_DIR W8A8_DIR
import { createReferenceBackend, fullPolicy, loadModel, loadTokenizer, quantizeLinears } from '@duo-attn/core';

import { generateHaystack } from '@duo-attn/eval';
import { loadQuantizedModel } from '@duo-attn/quant';
const dir = process.argv[2];
const float = await loadModel(dir);
const tok = await loadTokenizer(dir);
// Evaluation text: the generated haystack from a far offset (calibration used its start).
const ids = tok.encode(generateHaystack(40000), { addSpecialTokens: false }).slice(6000, 6000 + 512);
const run = async (m) => {
  const e = await createReferenceBackend().load(m, fullPolicy(m.config), { maxTokens: ids.length });
  const r = await e.forward(0, ids, { allLogits: true });
  await e.dispose();
  return r.logits;
};
const base = await run(float);
const out = { tokens: ids.length };
for (const [name, m] of [['smoothquant', await loadQuantizedModel(process.argv[3])], ['plain', quantizeLinears(float)]]) {
  const l = await run(m);
  let maxAbs = 0;
  let maxRef = 0;
  for (let i = 0; i < l.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(l[i] - base[i]));
    maxRef = Math.max(maxRef, Math.abs(base[i]));
  }
  const c = { maxAbsoluteError: maxAbs, relativeError: maxAbs / maxRef };
  let agree = 0;
  for (let t = 0; t < ids.length; t++) {
    const a = base.subarray(t * 2048, (t + 1) * 2048), b = l.subarray(t * 2048, (t + 1) * 2048);
    if (a.indexOf(Math.max(...a)) === b.indexOf(Math.max(...b))) agree++;
  }
  out[name] = { maxAbsoluteError: c.maxAbsoluteError, relativeError: c.relativeError, top1Agreement: agree / ids.length };
}
console.log(JSON.stringify(out, null, 2));
