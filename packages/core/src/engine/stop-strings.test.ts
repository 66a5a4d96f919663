import { describe, expect, it } from 'vitest';
import { StopStringMatcher } from './stop-strings.js';

/** Feeds pieces and returns what was emitted step by step plus whether it stopped. */
function feed(stops: string[], pieces: string[]): { emitted: string[]; stopped: boolean; rest: string } {
  const matcher = new StopStringMatcher(stops);
  const emitted: string[] = [];
  for (const piece of pieces) {
    const step = matcher.push(piece);
    emitted.push(step.text);
    if (step.stopped) return { emitted, stopped: true, rest: '' };
  }
  return { emitted, stopped: false, rest: matcher.flush() };
}

describe('StopStringMatcher', () => {
  it('passes text through without stop strings', () => {
    expect(feed([], ['a', 'b'])).toEqual({ emitted: ['a', 'b'], stopped: false, rest: '' });
  });

  it('holds back a possible prefix and cuts a stop string spanning pieces', () => {
    expect(feed(['END'], ['hi E', 'N', 'D more'])).toEqual({
      emitted: ['hi ', '', ''],
      stopped: true,
      rest: '',
    });
  });

  it('releases held text once it cannot start a stop string', () => {
    expect(feed(['END'], ['hi E', 'N', 'x'])).toEqual({
      emitted: ['hi ', '', 'ENx'],
      stopped: false,
      rest: '',
    });
    expect(feed(['END'], ['hi E', 'N'])).toEqual({ emitted: ['hi ', ''], stopped: false, rest: 'EN' });
  });

  it('finds the earliest of several stop strings, inside one piece', () => {
    expect(feed(['cd', 'b'], ['abcd'])).toEqual({ emitted: ['a'], stopped: true, rest: '' });
    expect(feed(['xyz', 'yq'], ['axy', 'q'])).toEqual({ emitted: ['a', 'x'], stopped: true, rest: '' });
  });

  it('handles overlapping self-prefixes', () => {
    // 'aab' after 'aaa...': only the last two a's can still start it.
    expect(feed(['aab'], ['aaaa', 'b'])).toEqual({ emitted: ['aa', ''], stopped: true, rest: '' });
  });
});
