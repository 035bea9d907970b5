import { describe, expect, it } from 'vitest';
import { malformedQueryParameter } from './query';

describe('malformedQueryParameter', () => {
  it('names the first parameter whose name or value is not percent-encoded UTF-8', () => {
    expect(malformedQueryParameter('http://h/p?a=1&holder=%E4%B8')).toBe('holder');
    expect(malformedQueryParameter('http://h/p?a=1&a=%ZZ')).toBe('a');
    expect(malformedQueryParameter('http://h/p?x%C0%AF=1')).toBe('x%C0%AF');
    // Overlong and surrogate encodings are no UTF-8.
    expect(malformedQueryParameter('http://h/p?a=%C0%AF')).toBe('a');
    expect(malformedQueryParameter('http://h/p?a=%ED%A0%80')).toBe('a');
  });

  it('passes what is well formed, and reads no further than the query', () => {
    for (const url of [
      'http://h/p',
      'http://h/p%ZZ?a=1',
      'http://h/p?a=%E4%B8%AD&b=%2B+%25&c&d=',
      'http://h/p?holder=a#%ZZ',
      'http://h/p#?a=%ZZ',
      'http://h/p?=%ZZ',
    ]) {
      expect(malformedQueryParameter(url), url).toBeUndefined();
    }
  });
});
