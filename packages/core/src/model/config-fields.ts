// Typed reads of JSON config keys. HF configs are loose (null for "unset", floats for ints), so every
// read states what it accepts, and a bad value becomes a ModelConfigError naming file and key.
import { ModelConfigError } from './model-errors.js';

/** A JSON object from a config file, with the file name and key prefix used in errors. */
export interface ConfigObject {
  readonly file: string;
  /** Prefix for key names in errors, e.g. `rope_scaling.` (empty at top level). */
  readonly prefix: string;
  readonly values: Readonly<Record<string, unknown>>;
}

/** True for a plain JSON object (not null, not an array). */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Wraps a parsed JSON value, which must be an object. */
export function configObject(value: unknown, file: string, prefix = ''): ConfigObject {
  if (!isJsonObject(value)) {
    const key = prefix === '' ? undefined : prefix.slice(0, -1);
    throw new ModelConfigError(file, key, `expected a JSON object, got ${describe(value)}`);
  }
  return { file, prefix, values: value };
}

/** The value of `key`, with `null` read as absent (HF writes null for "unset"). */
export function optionalValue(config: ConfigObject, key: string): unknown {
  const value = config.values[key];
  return value === null ? undefined : value;
}

/** A required number > 0 (finite). */
export function requiredPositiveNumber(config: ConfigObject, key: string): number {
  const value = optionalPositiveNumber(config, key);
  if (value === undefined) throw missing(config, key, 'a positive number');
  return value;
}

/** An optional number > 0 (finite); absent or null gives undefined. */
export function optionalPositiveNumber(config: ConfigObject, key: string): number | undefined {
  const value = optionalValue(config, key);
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw invalid(config, key, 'a positive number', value);
  }
  return value;
}

/** An optional finite number of any sign; absent or null gives undefined. */
export function optionalNumber(config: ConfigObject, key: string): number | undefined {
  const value = optionalValue(config, key);
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid(config, key, 'a number', value);
  return value;
}

/** A required integer > 0. */
export function requiredPositiveInteger(config: ConfigObject, key: string): number {
  const value = optionalPositiveInteger(config, key);
  if (value === undefined) throw missing(config, key, 'a positive integer');
  return value;
}

/** An optional integer > 0; absent or null gives undefined. */
export function optionalPositiveInteger(config: ConfigObject, key: string): number | undefined {
  const value = optionalValue(config, key);
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || (value as number) <= 0) {
    throw invalid(config, key, 'a positive integer', value);
  }
  return value as number;
}

/** An optional integer >= 0 (token ids); absent or null gives undefined. */
export function optionalTokenId(config: ConfigObject, key: string): number | undefined {
  const value = optionalValue(config, key);
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    throw invalid(config, key, 'a token id (integer >= 0)', value);
  }
  return value as number;
}

/** Token ids given as one id or a list of ids; absent or null gives undefined. */
export function optionalTokenIds(config: ConfigObject, key: string): number[] | undefined {
  const value = optionalValue(config, key);
  if (value === undefined) return undefined;
  const list = Array.isArray(value) ? value : [value];
  for (const id of list) {
    if (!Number.isSafeInteger(id) || (id as number) < 0) {
      throw invalid(config, key, 'a token id or a list of token ids', value);
    }
  }
  return [...new Set(list as number[])];
}

/** An optional boolean; absent or null gives `fallback`. */
export function optionalBoolean(config: ConfigObject, key: string, fallback: boolean): boolean {
  const value = optionalValue(config, key);
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalid(config, key, 'true or false', value);
  return value;
}

/** An optional string; absent or null gives undefined. */
export function optionalString(config: ConfigObject, key: string): string | undefined {
  const value = optionalValue(config, key);
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalid(config, key, 'a string', value);
  return value;
}

/** Error for a required key that is absent or null. */
export function missing(config: ConfigObject, key: string, expected: string): ModelConfigError {
  return new ModelConfigError(config.file, config.prefix + key, `missing required key; expected ${expected}`);
}

/** Error for a key whose value has the wrong type or range. */
export function invalid(
  config: ConfigObject,
  key: string,
  expected: string,
  value: unknown,
): ModelConfigError {
  return new ModelConfigError(
    config.file,
    config.prefix + key,
    `expected ${expected}, got ${describe(value)}`,
  );
}

/** A short rendering of a JSON value for error messages. */
export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  if (text === undefined) return String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
