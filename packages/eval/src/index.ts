// @duo-attn/eval: evaluation of DuoAttention models: haystack text and needle-retrieval grids.
export { EvalOptionError } from './errors.js';
export type { HaystackOptions } from './haystack/haystack-generator.js';
export { generateHaystack, haystackParagraphs, PARAGRAPH_SEPARATOR } from './haystack/haystack-generator.js';
export { writeHaystackCorpus } from './haystack/write-corpus.js';
export type { NeedlePrompt, NeedlePromptParts } from './niah/needle-prompt.js';
export { buildNeedlePrompt, NeedlePromptError } from './niah/needle-prompt.js';
export type { NeedleTemplates } from './niah/needle-templates.js';
export { fillTemplate, TOY_NEEDLE_TEMPLATES } from './niah/needle-templates.js';
export type { RetrievalCell, RetrievalGridOptions, RetrievalTrialRecord } from './niah/retrieval-grid.js';
export { runRetrievalGrid, sentenceEnds } from './niah/retrieval-grid.js';
export type { RetrievalTrialOptions, RetrievalTrialResult } from './niah/retrieval-trial.js';
export { runRetrievalTrial } from './niah/retrieval-trial.js';
