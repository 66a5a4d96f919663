// The bundled toy model (models/toy-retrieval) and prompts it answers, from @duo-attn/core/testing
// under the names these tests use.
import { join } from 'node:path';
import { defaultModelDirectory } from '@duo-attn/core';

export {
  TOY_ANSWERS as ANSWERS,
  TOY_CHAT_TEMPLATE,
  TOY_HAYSTACK as HAYSTACK,
  toyModelVariant as toyVariant,
  toyQuestion as question,
} from '@duo-attn/core/testing';

export const TOY = defaultModelDirectory();
export const TOY_PATTERN = join(TOY, 'pattern');
