// Argument parsing on node:util's parseArgs, with values checked and converted here so every
// command reports bad input the same way: which option, what was given, what is expected.
import { parseArgs } from 'node:util';

/** A mistake in how the command was called; the CLI prints it with a usage hint and exits 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export type OptionSpec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>;

export interface ParsedArgs {
  readonly values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  readonly positionals: string[];
}

/** Parses `argv` strictly against `options`; unknown options are usage errors. */
export function parseCommandArgs(argv: readonly string[], options: OptionSpec, usage: string): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options,
      allowPositionals: true,
      strict: true,
    });
    return { values: values as ParsedArgs['values'], positionals };
  } catch (error) {
    throw new UsageError((error as Error).message, usage);
  }
}

/** A string option's value, or undefined. */
export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === 'string' ? value : undefined;
}

/** A number option; `integer` and bounds are enforced with a message naming the option. */
export function numberOption(
  args: ParsedArgs,
  name: string,
  constraints: { integer?: boolean; min?: number; max?: number } = {},
): number | undefined {
  const text = stringOption(args, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  const kind = constraints.integer ? 'an integer' : 'a number';
  if (text.trim() === '' || !Number.isFinite(value) || (constraints.integer && !Number.isInteger(value))) {
    throw new UsageError(`--${name} must be ${kind}, got "${text}"`);
  }
  if (constraints.integer && !Number.isSafeInteger(value)) {
    throw new UsageError(`--${name} is too large, got "${text}"`);
  }
  if (constraints.min !== undefined && value < constraints.min) {
    throw new UsageError(`--${name} must be >= ${constraints.min}, got ${value}`);
  }
  if (constraints.max !== undefined && value > constraints.max) {
    throw new UsageError(`--${name} must be <= ${constraints.max}, got ${value}`);
  }
  return value;
}

/** The single positional argument a command requires. */
export function onePositional(args: ParsedArgs, what: string, usage: string): string {
  if (args.positionals.length === 0) throw new UsageError(`missing ${what}`, usage);
  if (args.positionals.length > 1) {
    throw new UsageError(
      `expected one ${what}, got ${args.positionals.length}: ${args.positionals.join(' ')}`,
      usage,
    );
  }
  return args.positionals[0]!;
}
