// Locates the project's shared data (`../shared` beside the repo, or $DUO_SHARED_DIR). Tests that
// need it skip with a visible message when it is absent.
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The shared data directory, or undefined when it is not there. */
export function sharedDir(): string | undefined {
  const candidate = process.env.DUO_SHARED_DIR ?? join(repoRoot, '..', 'shared');
  return existsSync(join(candidate, 'data')) ? candidate : undefined;
}

/** Every shipped pattern directory (`attn_patterns/<model>/<run>`), or [] without shared data. */
export function sharedPatternDirs(): { model: string; dir: string }[] {
  const shared = sharedDir();
  if (!shared) return [];
  const root = join(shared, 'data', 'attn_patterns');
  return readdirSync(root).flatMap((model) =>
    readdirSync(join(root, model)).map((run) => ({ model, dir: join(root, model, run) })),
  );
}

export function warnIfNoSharedData(what: string): void {
  if (!sharedDir()) {
    console.warn(`SKIPPED: ${what}: ../shared/data not found (set DUO_SHARED_DIR to run these tests)`);
  }
}
