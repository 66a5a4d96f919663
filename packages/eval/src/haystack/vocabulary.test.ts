import { describe, expect, it } from 'vitest';
import { nounForms, verbForms } from './english.js';
import * as vocabulary from './vocabulary.js';

/** Every string reachable from the vocabulary module's exports. */
function allStrings(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const item of value) allStrings(item, out);
  else if (typeof value === 'object' && value !== null)
    for (const item of Object.values(value)) allStrings(item, out);
  return out;
}

describe('vocabulary', () => {
  const strings = allStrings(vocabulary);

  it('holds several hundred distinct words', () => {
    const words = new Set(strings.flatMap((text) => text.split(/[\s/+]+/)).filter((word) => word.length > 0));
    expect(words.size).toBeGreaterThan(800);
  });

  it('contains no digits, no non-printable and no non-ASCII characters', () => {
    for (const text of strings) expect(text).toMatch(/^[\x20-\x7e]+$/);
    for (const text of strings) expect(text).not.toMatch(/[0-9]/);
  });

  it('contains nothing that would end or split a sentence', () => {
    for (const text of strings) expect(text).not.toMatch(/[.!?;:,"\n]/);
  });

  it('parses every noun and verb spec into clean forms', () => {
    const nouns = [
      ...vocabulary.NOUNS,
      ...vocabulary.PEOPLE,
      ...vocabulary.TOPICS.flatMap((topic) => [...topic.nouns, ...topic.roles]),
    ];
    for (const spec of nouns) {
      const forms = nounForms(spec);
      expect(`${forms.singular} ${forms.plural}`).toMatch(/^[a-z' -]+$/);
    }
    const verbs = [
      ...vocabulary.VERBS,
      ...vocabulary.INTRANSITIVE_VERBS,
      ...vocabulary.SPEECH_VERBS,
      ...vocabulary.BELIEF_VERBS,
      ...vocabulary.FEELINGS,
      ...vocabulary.TOPICS.flatMap((topic) => topic.verbs),
    ];
    for (const spec of verbs) {
      const forms = verbForms(spec);
      expect(Object.values(forms).join(' ')).toMatch(/^[a-z -]+$/);
    }
  });

  it('gives every topic enough words to carry a paragraph', () => {
    expect(vocabulary.TOPICS.length).toBeGreaterThanOrEqual(12);
    for (const topic of vocabulary.TOPICS) {
      expect(topic.nouns.length).toBeGreaterThanOrEqual(12);
      expect(topic.verbs.length).toBeGreaterThanOrEqual(10);
      expect(topic.roles.length).toBeGreaterThanOrEqual(4);
      expect(topic.places.length).toBeGreaterThanOrEqual(4);
    }
  });
});
