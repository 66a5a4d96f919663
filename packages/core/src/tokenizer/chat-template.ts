// A model's Jinja chat template, compiled on first use (a broken template must not stop plain
// encoding) and rendered with @huggingface/jinja; every failure is reported against the template's file.

import { Template } from '@huggingface/jinja';
import { TokenizerError } from './tokenizer-error.js';

/** A chat template and the file it was read from. */
export class ChatTemplate {
  /** Template text as stored in the file. */
  readonly source: string;
  /** Path of `chat_template.jinja` or `tokenizer_config.json`. */
  readonly file: string;
  private compiled: Template | undefined;

  constructor(source: string, file: string) {
    this.source = source;
    this.file = file;
  }

  /**
   * Renders the template with `variables` (transformers passes `messages`, `tools`, `documents`,
   * `add_generation_prompt` and the named special tokens; `raise_exception` and `strftime_now` are
   * globals of the Jinja runtime).
   */
  render(variables: Readonly<Record<string, unknown>>): string {
    const template = this.compile();
    try {
      return template.render({ ...variables });
    } catch (error) {
      throw new TokenizerError(
        'chat-template',
        `rendering the chat template of ${this.file} failed: ${(error as Error).message}`,
        { file: this.file, cause: error },
      );
    }
  }

  private compile(): Template {
    if (this.compiled === undefined) {
      try {
        this.compiled = new Template(this.source);
      } catch (error) {
        throw new TokenizerError(
          'chat-template',
          `the chat template of ${this.file} does not parse: ${(error as Error).message}`,
          { file: this.file, cause: error },
        );
      }
    }
    return this.compiled;
  }
}
