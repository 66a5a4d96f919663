// generation_config.json: the model author's decoding defaults. Its eos_token_id is what
// transformers' generate() stops on (it overrides config.json's), e.g. Llama-3-Instruct's <|eot_id|>.
import { join } from 'node:path';
import {
  type ConfigObject,
  configObject,
  invalid,
  optionalNumber,
  optionalPositiveInteger,
  optionalTokenId,
  optionalTokenIds,
  optionalValue,
} from './config-fields.js';
import { readJsonFile } from './model-config.js';

/** The decoding defaults of generation_config.json that we use; absent keys stay absent. */
export interface GenerationConfig {
  /** `eos_token_id` as a list. */
  readonly eosTokenIds?: readonly number[];
  readonly bosTokenId?: number;
  readonly padTokenId?: number;
  /** `do_sample`: false means greedy. */
  readonly doSample?: boolean;
  readonly temperature?: number;
  readonly topP?: number;
  readonly topK?: number;
  readonly repetitionPenalty?: number;
  readonly maxNewTokens?: number;
  readonly maxLength?: number;
}

/**
 * Parses the JSON of a generation_config.json. `file` is used only in error messages.
 *
 * @throws ModelConfigError naming `file` and the key for a value of the wrong type.
 */
export function parseGenerationConfig(json: unknown, file: string): GenerationConfig {
  const config = configObject(json, file);
  const entries: Array<[keyof GenerationConfig, unknown]> = [
    ['eosTokenIds', optionalTokenIds(config, 'eos_token_id')],
    ['bosTokenId', optionalTokenId(config, 'bos_token_id')],
    ['padTokenId', optionalTokenId(config, 'pad_token_id')],
    ['doSample', optionalFlag(config, 'do_sample')],
    ['temperature', nonNegative(config, 'temperature')],
    ['topP', nonNegative(config, 'top_p')],
    ['topK', nonNegativeInteger(config, 'top_k')],
    ['repetitionPenalty', nonNegative(config, 'repetition_penalty')],
    ['maxNewTokens', optionalPositiveInteger(config, 'max_new_tokens')],
    ['maxLength', optionalPositiveInteger(config, 'max_length')],
  ];
  return Object.fromEntries(entries.filter(([, value]) => value !== undefined)) as GenerationConfig;
}

/**
 * Reads `<dir>/generation_config.json`, or undefined when the directory has none.
 *
 * @throws ModelConfigError when the file exists but is unreadable, not JSON, or malformed.
 */
export async function readGenerationConfig(dir: string): Promise<GenerationConfig | undefined> {
  const file = join(dir, 'generation_config.json');
  const json = await readJsonFile(file, false);
  return json === undefined ? undefined : parseGenerationConfig(json, file);
}

function optionalFlag(config: ConfigObject, key: string): boolean | undefined {
  const value = optionalValue(config, key);
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw invalid(config, key, 'true or false', value);
  return value;
}

function nonNegative(config: ConfigObject, key: string): number | undefined {
  const value = optionalNumber(config, key);
  if (value !== undefined && value < 0) throw invalid(config, key, 'a number >= 0', value);
  return value;
}

function nonNegativeInteger(config: ConfigObject, key: string): number | undefined {
  const value = optionalValue(config, key);
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || (value as number) < 0)
    throw invalid(config, key, 'an integer >= 0', value);
  return value as number;
}
