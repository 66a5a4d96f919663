import { describe, expect, it } from 'vitest';
import { LongBenchDataError } from './longbench-errors.js';
import { checkPromptTemplate, fillPromptTemplate, templateFields } from './prompt-template.js';

describe('LongBench prompt templates (Python str.format)', () => {
  it('fills {name} with the sample field and keeps {{ }} as braces; values are never parsed', () => {
    const template = 'Read {context}\n\nQ: {input} {{json}}';
    expect(templateFields(template)).toEqual(['context', 'input']);
    expect(fillPromptTemplate(template, { context: 'a {b} c', input: 'why?' }, 'test')).toBe(
      'Read a {b} c\n\nQ: why? {json}',
    );
  });

  it('refuses what str.format refuses, and a missing or non-string field, naming where', () => {
    expect(() => checkPromptTemplate('x } y', 'dataset2prompt.json: "qa"')).toThrow(
      /dataset2prompt\.json: "qa": single "}" at character 2/,
    );
    expect(() => checkPromptTemplate('x {0} y', 'here')).toThrow(LongBenchDataError);
    expect(() => checkPromptTemplate('x {input', 'here')).toThrow(/unsupported placeholder/);
    expect(() => fillPromptTemplate('{context}', {}, 'file.jsonl:3')).toThrow(
      /file\.jsonl:3: the template needs a string field "context"/,
    );
    expect(() => fillPromptTemplate('{answers}', { answers: ['x'] }, 'here')).toThrow(LongBenchDataError);
  });
});
