// Locates the project's shared data (the original's patterns, the NIAH essays, LongBench tables):
// `$DUO_SHARED_DIR/data`, else `shared/data` in the folder that holds this repository. Tests that
// need it skip with a visible message when it is absent; nothing of it is ever copied into the repo.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Environment variable naming the shared folder (the one holding `data/`). */
export const SHARED_DIR_ENV = 'DUO_SHARED_DIR';

/** The shared `data/` directory, or undefined when it is not there. */
export function sharedDataDirectory(): string | undefined {
  const fromEnv = process.env[SHARED_DIR_ENV];
  if (fromEnv !== undefined && fromEnv !== '') {
    const data = join(fromEnv, 'data');
    return existsSync(data) ? data : undefined;
  }
  // Walk up from this file to the repository root (the folder with pnpm-workspace.yaml).
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) {
      const data = join(dirname(dir), 'shared', 'data');
      return existsSync(data) ? data : undefined;
    }
    dir = dirname(dir);
  }
  return undefined;
}

/**
 * A path inside the shared data directory, or undefined (with a visible "SKIPPED" warning naming
 * `what`) when the shared data or that path is missing.
 */
export function sharedDataPath(relative: string, what: string): string | undefined {
  const data = sharedDataDirectory();
  const path = data === undefined ? undefined : join(data, relative);
  if (path === undefined || !existsSync(path)) {
    console.warn(
      `SKIPPED: ${what}: shared data ${relative} not found (put the shared folder beside the repo or set ${SHARED_DIR_ENV})`,
    );
    return undefined;
  }
  return path;
}
