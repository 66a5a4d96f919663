// Where the bundled default model lives: `models/toy-retrieval/` of the duo-attn repository, a
// small Llama-architecture model trained to retrieve needles (tools/toy-model). It loads through
// the same code path as any HF model; this file only finds the directory.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuoError } from '../errors.js';

/** Name of the bundled model's directory under `models/`. */
export const DEFAULT_MODEL_NAME = 'toy-retrieval';

/** Environment variable that overrides the default model directory. */
export const DEFAULT_MODEL_ENV = 'DUO_DEFAULT_MODEL';

/** No default model can be found (an installed package without the repository, for example). */
export class DefaultModelNotFoundError extends DuoError {
  constructor(searched: readonly string[]) {
    super(
      'E_NO_DEFAULT_MODEL',
      `the bundled default model (models/${DEFAULT_MODEL_NAME}) was not found; pass a model directory ` +
        `or set ${DEFAULT_MODEL_ENV}. Looked in: ${searched.join(', ')}`,
    );
    this.name = 'DefaultModelNotFoundError';
  }
}

/**
 * The default model directory: `$DUO_DEFAULT_MODEL` if set, else the nearest `models/toy-retrieval`
 * above this module (found from source and from the built package inside the repository).
 */
export function defaultModelDirectory(): string {
  const fromEnv = process.env[DEFAULT_MODEL_ENV];
  if (fromEnv) {
    const dir = resolve(fromEnv);
    if (!existsSync(join(dir, 'config.json'))) throw new DefaultModelNotFoundError([dir]);
    return dir;
  }
  const searched: string[] = [];
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 8; depth++) {
    const candidate = join(dir, 'models', DEFAULT_MODEL_NAME);
    searched.push(candidate);
    if (existsSync(join(candidate, 'config.json'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new DefaultModelNotFoundError(searched);
}
