import { describe, expect, it } from 'vitest';
import { classificationScore } from './classification.js';

const CLASSES = ['Abbreviation', 'Animal', 'Food', 'Description of a person'];

describe('classificationScore', () => {
  it('is 1 / (class names found) when the answer is among them', () => {
    expect(classificationScore('Animal', 'Animal', CLASSES)).toBe(1);
    expect(classificationScore('Type: Food or Animal', 'Animal', CLASSES)).toBe(0.5);
    expect(classificationScore('Type: Food', 'Animal', CLASSES)).toBe(0);
    expect(classificationScore('', 'Animal', CLASSES)).toBe(0);
    expect(classificationScore('这是体育新闻', '体育', ['体育', '财经', '娱乐'])).toBe(1);
  });

  it('ignores names that are only part of the answer', () => {
    expect(
      classificationScore('Description of a person', 'Description of a person', [...CLASSES, 'person']),
    ).toBe(1);
  });

  it('drops every name that is only part of the answer (the original skips the name after each removal and scores 0.5 here; fixed: 1)', () => {
    // Found in order: person, Description, Description of a person. The original removes "person"
    // while iterating, so "Description" is never checked and stays: 1/2.
    const classes = ['person', 'Description', 'Description of a person'];
    expect(classificationScore('Description of a person', 'Description of a person', classes)).toBe(1);
  });
});
