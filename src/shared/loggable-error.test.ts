import { DrizzleQueryError } from 'drizzle-orm/errors';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { loggableError, redactTokens } from './loggable-error';

const MARK_CODE =
  'AEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIB';
const CREDENTIAL =
  'eyJhbGciOiJFZERTQSIsInR5cCI6InZjK2p3dCJ9.eyJpc3MiOiJ1cm46dXVpZDoxMjM0NTY3OCJ9.c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl';
const API_KEY = 'cm_Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5';

describe('loggableError', () => {
  it('keeps only the class, SQLSTATE and constraint of a failed query (never SQL or parameters)', () => {
    const cause = new pg.DatabaseError(
      `invalid input syntax for type uuid: "${CREDENTIAL}"`,
      0,
      'error',
    );
    cause.code = '22P02';
    const error = new DrizzleQueryError(
      'select * from "api_keys" where "hash" = $1 and "code" = $2',
      [API_KEY, MARK_CODE, CREDENTIAL],
      cause,
    );
    const logged = loggableError(error);
    expect(logged).toEqual({ name: 'DrizzleQueryError', code: '22P02' });
    const text = JSON.stringify(logged);
    for (const secret of [MARK_CODE, CREDENTIAL, API_KEY, 'select', 'api_keys']) {
      expect(text).not.toContain(secret);
    }
  });

  it('keeps the constraint a violation names', () => {
    const cause = new pg.DatabaseError(
      'duplicate key value violates unique constraint',
      0,
      'error',
    );
    cause.code = '23505';
    cause.constraint = 'certificates_issuer_number_unique';
    expect(loggableError(new DrizzleQueryError('insert …', ['x'], cause))).toEqual({
      name: 'DrizzleQueryError',
      code: '23505',
      constraint: 'certificates_issuer_number_unique',
    });
  });

  it('a query that failed for want of a connection says so, without the query', () => {
    const cause = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    const logged = loggableError(new DrizzleQueryError('update marks set …', [MARK_CODE], cause));
    expect(logged).toEqual({
      name: 'DrizzleQueryError',
      code: 'ECONNRESET',
      message: 'read ECONNRESET',
    });
  });

  it('cuts token-like runs out of other messages and of strings', () => {
    const logged = loggableError(new TypeError(`cannot read ${MARK_CODE} with key ${API_KEY}`));
    expect(logged.name).toBe('TypeError');
    expect(logged.message).toBe('cannot read AEAQCA… with key cm_Zm9…');
    expect(loggableError(`credential ${CREDENTIAL}`).message).not.toContain(CREDENTIAL);
    // A failed query's message handed on as a string keeps nothing.
    expect(loggableError(`Failed query: select 1\nparams: ${API_KEY}`)).toEqual({
      name: 'DrizzleQueryError',
    });
    // Short words, numbers and ordinary sentences are left as they are.
    expect(redactTokens('batch 42 failed: the database is not reachable')).toBe(
      'batch 42 failed: the database is not reachable',
    );
  });
});
