import { describe, expect, it } from 'vitest';
import {
  capitalize,
  indefiniteArticle,
  nounForms,
  numberWords,
  verbForms,
  withArticle,
  yearWords,
} from './english.js';

describe('verbForms', () => {
  it('derives regular forms with English spelling rules', () => {
    expect(verbForms('walk')).toEqual({
      base: 'walk',
      third: 'walks',
      past: 'walked',
      participle: 'walked',
      gerund: 'walking',
    });
    expect(verbForms('bake')).toEqual({
      base: 'bake',
      third: 'bakes',
      past: 'baked',
      participle: 'baked',
      gerund: 'baking',
    });
    expect(verbForms('study')).toEqual({
      base: 'study',
      third: 'studies',
      past: 'studied',
      participle: 'studied',
      gerund: 'studying',
    });
    expect(verbForms('stay').third).toBe('stays');
    expect(verbForms('fix').third).toBe('fixes');
    expect(verbForms('brush').third).toBe('brushes');
    expect(verbForms('see/saw/seen').gerund).toBe('seeing');
    expect(verbForms('tie up').gerund).toBe('tying up');
  });

  it('doubles the final consonant when marked and takes irregular fields', () => {
    expect(verbForms('plan+')).toEqual({
      base: 'plan',
      third: 'plans',
      past: 'planned',
      participle: 'planned',
      gerund: 'planning',
    });
    expect(verbForms('forget+/forgot/forgotten')).toEqual({
      base: 'forget',
      third: 'forgets',
      past: 'forgot',
      participle: 'forgotten',
      gerund: 'forgetting',
    });
    expect(verbForms('go/went/gone/goes').third).toBe('goes');
  });

  it('inflects only the first word of a phrasal verb', () => {
    expect(verbForms('set+ up/set/set')).toEqual({
      base: 'set up',
      third: 'sets up',
      past: 'set up',
      participle: 'set up',
      gerund: 'setting up',
    });
    expect(verbForms('look after').past).toBe('looked after');
    expect(verbForms('give away/gave/given').participle).toBe('given away');
  });
});

describe('nounForms', () => {
  it('pluralises regular and irregular nouns', () => {
    expect(nounForms('cup').plural).toBe('cups');
    expect(nounForms('box').plural).toBe('boxes');
    expect(nounForms('bench').plural).toBe('benches');
    expect(nounForms('bakery').plural).toBe('bakeries');
    expect(nounForms('key').plural).toBe('keys');
    expect(nounForms('child/children')).toEqual({ singular: 'child', plural: 'children' });
  });
});

describe('articles', () => {
  it('chooses a or an by sound for the common exceptions', () => {
    expect(indefiniteArticle('apple')).toBe('an');
    expect(indefiniteArticle('pear')).toBe('a');
    expect(indefiniteArticle('honest baker')).toBe('an');
    expect(indefiniteArticle('useful tool')).toBe('a');
    expect(withArticle('old lamp')).toBe('an old lamp');
  });
});

describe('numberWords', () => {
  it('spells integers below one million', () => {
    expect(numberWords(0)).toBe('zero');
    expect(numberWords(7)).toBe('seven');
    expect(numberWords(15)).toBe('fifteen');
    expect(numberWords(40)).toBe('forty');
    expect(numberWords(42)).toBe('forty-two');
    expect(numberWords(100)).toBe('one hundred');
    expect(numberWords(342)).toBe('three hundred and forty-two');
    expect(numberWords(1000)).toBe('one thousand');
    expect(numberWords(1025)).toBe('one thousand and twenty-five');
    expect(numberWords(21_500)).toBe('twenty-one thousand five hundred');
    expect(numberWords(999_999)).toBe('nine hundred and ninety-nine thousand nine hundred and ninety-nine');
  });

  it('rejects what it cannot spell', () => {
    expect(() => numberWords(-1)).toThrow(RangeError);
    expect(() => numberWords(1.5)).toThrow(RangeError);
    expect(() => numberWords(1_000_000)).toThrow(RangeError);
  });

  it('spells years as spoken', () => {
    expect(yearWords(1984)).toBe('nineteen eighty-four');
    expect(yearWords(1905)).toBe('nineteen oh five');
    expect(yearWords(1900)).toBe('nineteen hundred');
    expect(yearWords(2006)).toBe('two thousand and six');
  });
});

describe('capitalize', () => {
  it('upper-cases the first character only', () => {
    expect(capitalize('the old mill')).toBe('The old mill');
    expect(capitalize('')).toBe('');
  });
});
