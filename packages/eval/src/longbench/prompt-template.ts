// LongBench's prompt templates are Python format strings (`template.format(**sample)`): {name} takes
// the sample's field, {{ and }} are literal braces, anything else is an error.
import { LongBenchDataError } from './longbench-errors.js';

type Piece = { text: string } | { field: string };

function parse(template: string, where: string): Piece[] {
  const pieces: Piece[] = [];
  let text = '';
  for (let i = 0; i < template.length; i++) {
    const character = template[i]!;
    if (character === '{' && template[i + 1] === '{') {
      text += '{';
      i++;
    } else if (character === '}' && template[i + 1] === '}') {
      text += '}';
      i++;
    } else if (character === '{') {
      const end = template.indexOf('}', i);
      const field = end === -1 ? '' : template.slice(i + 1, end);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(field)) {
        throw new LongBenchDataError(
          `${where}: unsupported placeholder at character ${i} (only {name}, {{ and }})`,
        );
      }
      if (text) pieces.push({ text });
      text = '';
      pieces.push({ field });
      i = end;
    } else if (character === '}') {
      throw new LongBenchDataError(`${where}: single "}" at character ${i}`);
    } else text += character;
  }
  if (text) pieces.push({ text });
  return pieces;
}

/** Throws {@link LongBenchDataError} (prefixed with `where`) when `template` is not a valid format string. */
export function checkPromptTemplate(template: string, where: string): void {
  parse(template, where);
}

/** The fields a template uses. */
export function templateFields(template: string): string[] {
  return parse(template, 'template').flatMap((piece) => ('field' in piece ? [piece.field] : []));
}

/**
 * `template.format(**fields)`: each {name} replaced by that string field. Throws
 * {@link LongBenchDataError} naming the field when it is missing or not a string.
 */
export function fillPromptTemplate(
  template: string,
  fields: Readonly<Record<string, unknown>>,
  where: string,
): string {
  let out = '';
  for (const piece of parse(template, where)) {
    if ('text' in piece) {
      out += piece.text;
      continue;
    }
    const value = fields[piece.field];
    if (typeof value !== 'string') {
      throw new LongBenchDataError(`${where}: the template needs a string field "${piece.field}"`);
    }
    out += value;
  }
  return out;
}
