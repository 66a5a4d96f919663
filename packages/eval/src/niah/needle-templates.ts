// Needle and question templates. `{value}` marks where each trial's fresh random value goes, so a
// model cannot have memorised the answer.

/** A needle sentence and the question that asks for it (ending in the answer prefix). */
export interface NeedleTemplates {
  /** Inserted into the haystack; must contain `{value}`. */
  readonly needle: string;
  /** Appended after the haystack; the model continues right after it. */
  readonly question: string;
}

/** The bundled toy model's format (tools/toy-model trains on exactly this shape). */
export const TOY_NEEDLE_TEMPLATES: NeedleTemplates = {
  needle: ' The secret code of the blue door is {value}.',
  question:
    '\n\nQuestion: What is the secret code of the blue door?\nAnswer: The secret code of the blue door is',
};

/** Replaces every `{value}` of `template`. */
export function fillTemplate(template: string, value: string): string {
  return template.split('{value}').join(value);
}
