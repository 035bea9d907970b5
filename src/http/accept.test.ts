import { describe, expect, it } from 'vitest';
import { acceptsEncoding, prefers, prefersJson } from './accept';

describe('prefersJson', () => {
  it.each([
    ['application/json', true],
    ['Application/JSON', true],
    ['application/problem+json', true],
    ['application/json, text/html;q=0.5', true],
    ['text/html;q=0.2, application/json;q=0.9', true],
    ['application/json, text/plain, */*', true],
    ['application/*', true],
    ['application/json;charset=utf-8; q=1.0', true],
  ])('%s: JSON', (accept, expected) => expect(prefersJson(accept)).toBe(expected));

  it.each([
    [undefined, false],
    ['', false],
    ['*/*', false],
    ['text/html', false],
    ['application/json, text/html', false],
    ['application/json;q=0.5, text/html', false],
    ['text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', false],
    ['application/json;q=0', false],
    ['application/json;q=0, */*', false],
    ['text/*, application/json;q=0.9', false],
    // A q that is no qvalue leaves its range out.
    ['application/json;q=2', false],
    ['application/json;q=abc, text/html', false],
  ])('%s: a page', (accept, expected) => expect(prefersJson(accept)).toBe(expected));
});

describe('prefers', () => {
  const csv = ['text/csv'];
  const ndjson = ['application/x-ndjson'];
  it('ranks by q, then by how specific the range is; a tie is the default', () => {
    expect(prefers('text/csv', csv, ndjson)).toBe(true);
    expect(prefers('text/*', csv, ndjson)).toBe(true);
    expect(prefers('*/*', csv, ndjson)).toBe(false);
    expect(prefers('text/csv, application/x-ndjson', csv, ndjson)).toBe(false);
    expect(prefers('text/csv;q=0, */*', csv, ndjson)).toBe(false);
    expect(prefers('application/x-ndjson;q=0.2, text/csv', csv, ndjson)).toBe(true);
  });
});

describe('acceptsEncoding', () => {
  it.each([
    ['gzip', true],
    ['gzip, deflate, br', true],
    ['GZIP', true],
    ['br, gzip;q=0.8', true],
    ['*', true],
    ['*;q=0.5, br', true],
    ['gzip;q=1.000', true],
    ['x-gzip', true],
    [undefined, false],
    ['', false],
    ['br, deflate', false],
    ['identity', false],
    ['gzip;q=0', false],
    ['gzip;q=0.000, *', false],
    ['*;q=0.5, gzip;q=0', false],
    ['*;q=0', false],
    ['gzip;q=2', false],
    ['gzip;q=abc', false],
  ])('%s: %s', (header, expected) => expect(acceptsEncoding(header, 'gzip')).toBe(expected));
});
