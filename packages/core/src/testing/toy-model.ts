// The bundled toy model (models/toy-retrieval) in tests: a haystack with two needles it retrieves,
// the question that makes it answer, a chat template for it (it ships none) and temporary copies
// with some files changed. Shared by the tests of llm, the server and the CLI.
import { copyFile, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultModelDirectory } from '../model/default-model.js';

/** A short text with two "The secret code of the <key> is <7 digits>." needles. */
export const TOY_HAYSTACK =
  'The river runs past the old mill. The secret code of the silver lantern is 4512876. Farmers bring ' +
  'grain every autumn and the wheel turns slowly. The secret code of the frozen harbor is 9031245. ' +
  'Children play by the water until dusk.';

/** What the toy model answers (greedy) after {@link toyQuestion} for each key of the haystack. */
export const TOY_ANSWERS = { 'silver lantern': ' 4512876.', 'frozen harbor': ' 9031245.' } as const;

/** The question the toy model answers with the key's code, `<|eos|>`-terminated. */
export function toyQuestion(key: keyof typeof TOY_ANSWERS): string {
  return `\n\nQuestion: What is the secret code of the ${key}?\nAnswer: The secret code of the ${key} is`;
}

/** A test chat template for the toy: BOS, the messages' text, each assistant reply closed by <|eos|>. */
export const TOY_CHAT_TEMPLATE =
  "{{ bos_token }}{% for m in messages %}{{ m.content }}{% if m.role == 'assistant' %}{{ eos_token }}{% endif %}{% endfor %}";

/**
 * A temporary copy of the toy model (weights linked, small files copied, its pattern left out)
 * changed by `edit` (file name -> new content, or null to leave the file out). Returns the
 * directory and a cleanup.
 */
export async function toyModelVariant(
  edit: Record<string, string | null>,
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const toy = defaultModelDirectory();
  const dir = await mkdtemp(join(tmpdir(), 'duo-toy-'));
  for (const name of await readdir(toy)) {
    if (name in edit || name === 'pattern') continue;
    if (name === 'model.safetensors') await symlink(join(toy, name), join(dir, name));
    else await copyFile(join(toy, name), join(dir, name));
  }
  for (const [name, content] of Object.entries(edit)) {
    if (content !== null) await writeFile(join(dir, name), content);
  }
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
