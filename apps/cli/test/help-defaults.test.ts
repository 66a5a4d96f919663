// Every default a command's code applies (`numberOption(args, 'x') ?? 8`, `stringOption(args, 'x')
// ?? 'a,b'`, `parseIdList(stringOption(args, 'x') ?? '...')`) must be stated in that command's
// --help: on a line naming --x together with "default", or as `--x VALUE` (e.g. a synopsis's
// `[--depths 0,25,50,75,100]`). The scan reads the sources, so a changed default fails here until
// the help follows.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BENCH_USAGE } from '../src/commands/bench.js';
import { BENCH_CAPACITY_USAGE } from '../src/commands/bench-capacity.js';
import { DEMO_USAGE } from '../src/commands/demo.js';
import { GENERATE_USAGE } from '../src/commands/generate.js';
import { INFO_USAGE } from '../src/commands/info.js';
import { NIAH_USAGE } from '../src/commands/niah.js';
import { PATTERN_USAGE } from '../src/commands/pattern.js';
import { SCORE_USAGE } from '../src/commands/score.js';
import { TRAIN_USAGE } from '../src/commands/train.js';
import { POLICY_USAGE } from '../src/policy-options.js';

const SOURCES: Record<string, string> = {
  'commands/bench.ts': BENCH_USAGE,
  'commands/bench-capacity.ts': BENCH_CAPACITY_USAGE,
  'commands/demo.ts': DEMO_USAGE,
  'commands/generate.ts': GENERATE_USAGE,
  'commands/info.ts': INFO_USAGE,
  'commands/niah.ts': NIAH_USAGE,
  'commands/pattern.ts': PATTERN_USAGE,
  'commands/score.ts': SCORE_USAGE,
  'commands/train.ts': TRAIN_USAGE,
  'policy-options.ts': POLICY_USAGE,
};

/** `[option, literal default]` pairs applied in `source`. */
function literalDefaults(source: string): [string, string][] {
  const pattern =
    /(?:numberOption|stringOption)\(args, '([a-z-]+)'[^)]*\)\s*\?\?\s*('([^']*)'|\d+(?:\.\d+)?)/g;
  return [...source.matchAll(pattern)].map((match) => [match[1]!, match[3] ?? match[2]!]);
}

function states(usage: string, option: string, value: string): boolean {
  if (usage.includes(`--${option} ${value}`)) return true;
  return usage
    .split('\n')
    .some((line) => line.includes(`--${option}`) && /default/i.test(line) && line.includes(value));
}

describe('--help states the defaults the code applies', () => {
  for (const [file, usage] of Object.entries(SOURCES)) {
    const source = readFileSync(join(import.meta.dirname, '..', 'src', file), 'utf8');
    const defaults = literalDefaults(source);
    it.skipIf(defaults.length === 0)(`${file}: ${defaults.map(([o, v]) => `--${o} ${v}`).join(', ')}`, () => {
      const missing = defaults.filter(([option, value]) => !states(usage, option, value));
      expect(missing.map(([option, value]) => `--${option} (default ${value})`)).toEqual([]);
    });
  }

  it('finds the defaults it checks (the scan itself works)', () => {
    const bench = readFileSync(join(import.meta.dirname, '..', 'src', 'commands/bench.ts'), 'utf8');
    expect(literalDefaults(bench)).toContainEqual(['steps', '8']);
    expect(literalDefaults(bench)).toContainEqual(['contexts', '1024,4096']);
    expect(states('  --steps N   steps per context (default 8)', 'steps', '8')).toBe(true);
    expect(states('  --steps N   steps per context (default 9)', 'steps', '8')).toBe(false);
  });
});
