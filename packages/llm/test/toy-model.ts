// The bundled toy model (models/toy-retrieval) and prompts it answers: it was trained to retrieve
// "The secret code of the <key> is <7 digits>." needles and ends each answer with <|eos|>.
import { copyFile, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultModelDirectory } from '@duo-attn/core';

export const TOY = defaultModelDirectory();
export const TOY_PATTERN = join(TOY, 'pattern');

export const HAYSTACK =
  'The river runs past the old mill. The secret code of the silver lantern is 4512876. Farmers bring ' +
  'grain every autumn and the wheel turns slowly. The secret code of the frozen harbor is 9031245. ' +
  'Children play by the water until dusk.';

export const ANSWERS = { 'silver lantern': ' 4512876.', 'frozen harbor': ' 9031245.' } as const;

/** The question the toy model answers with the key's code, `<|eos|>`-terminated. */
export function question(key: keyof typeof ANSWERS): string {
  return `\n\nQuestion: What is the secret code of the ${key}?\nAnswer: The secret code of the ${key} is`;
}

/** A test chat template for the toy: BOS, the messages' text, each assistant reply closed by <|eos|>. */
export const TOY_CHAT_TEMPLATE =
  "{{ bos_token }}{% for m in messages %}{{ m.content }}{% if m.role == 'assistant' %}{{ eos_token }}{% endif %}{% endfor %}";

/**
 * A temporary copy of the toy model (weights linked, small files copied) changed by `edit`
 * (file name -> new content, or null to leave the file out). Returns the directory and a cleanup.
 */
export async function toyVariant(
  edit: Record<string, string | null>,
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'duo-llm-toy-'));
  for (const name of await readdir(TOY)) {
    if (name in edit || name === 'pattern') continue;
    if (name === 'model.safetensors') await symlink(join(TOY, name), join(dir, name));
    else await copyFile(join(TOY, name), join(dir, name));
  }
  for (const [name, content] of Object.entries(edit)) {
    if (content !== null) await writeFile(join(dir, name), content);
  }
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
