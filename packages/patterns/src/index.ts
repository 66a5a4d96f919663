// @duo-attn/patterns: DuoAttention attention-pattern files and what can be computed from them.
export { PatternFormatError, PatternOptionError, PatternShapeError } from './errors.js';
export { formatScientific } from './format-scientific.js';
export { formatGateTable, parseGateTable } from './gate-table.js';
export type { GeneratePatternOptions } from './generate-pattern.js';
export { generatePattern, roundToBfloat16 } from './generate-pattern.js';
export type { HeadOrderPlan, LayerHeadOrder } from './head-order.js';
export { planHeadOrder } from './head-order.js';
export { viridis } from './heatmap/colormap.js';
export type { HeatmapOptions } from './heatmap/heatmap-options.js';
export { renderHeatmapPng } from './heatmap/png.js';
export { renderHeatmapSvg } from './heatmap/svg.js';
export { Mt19937 } from './mt19937.js';
export type { AttentionPattern, CreatePatternInit, Matrix } from './pattern.js';
export { assertPatternShape, clipGate, createPattern } from './pattern.js';
export type { ReadPatternOptions } from './pattern-directory.js';
export {
  configTextFor,
  PATTERN_CONFIG_FILE,
  PATTERN_GATES_FILE,
  readPattern,
  writePattern,
} from './pattern-directory.js';
export type { PatternPolicy, PatternPolicyModel, PatternPolicyOptions } from './pattern-policy.js';
export { DEFAULT_PATTERN_SPARSITY, policyFromPattern, readPatternPolicy } from './pattern-policy.js';
export { pythonJsonDumps } from './python-json.js';
export type { SparsifyOptions, SparsifyResult } from './sparsify.js';
export { DEFAULT_SPARSIFY_SEED, linearQuantile, retrievalCount, sparsify } from './sparsify.js';
export type { KvDtype, PatternStatistics } from './statistics.js';
export { KV_DTYPES, patternStatistics } from './statistics.js';
