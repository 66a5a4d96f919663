// The original's shipped patterns in the project's shared data (located by @duo-attn/core/testing:
// `../shared` beside the repo, or $DUO_SHARED_DIR). Tests that need them skip visibly without it.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { sharedDataDirectory } from '@duo-attn/core/testing';

/** Every shipped pattern directory (`attn_patterns/<model>/<run>`), or [] without shared data. */
export function sharedPatternDirs(): { model: string; dir: string }[] {
  const data = sharedDataDirectory();
  if (!data) return [];
  const root = join(data, 'attn_patterns');
  return readdirSync(root).flatMap((model) =>
    readdirSync(join(root, model)).map((run) => ({ model, dir: join(root, model, run) })),
  );
}

export function warnIfNoSharedData(what: string): void {
  if (!sharedDataDirectory()) {
    console.warn(`SKIPPED: ${what}: ../shared/data not found (set DUO_SHARED_DIR to run these tests)`);
  }
}
