// Public API of tokenizer loading: HF tokenizer directories to encode/decode/chat-template.

export type { DecodeStream } from './decode-stream.js';
export { tokenizePrefix } from './tokenize-prefix.js';
export { type ChatMessage, loadTokenizer, type Tokenizer, type TokenizerModelType } from './tokenizer.js';
export { TOKENIZER_ERROR_CODE, TokenizerError, type TokenizerErrorReason } from './tokenizer-error.js';
