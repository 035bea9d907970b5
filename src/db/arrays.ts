import { sql, type SQL } from 'drizzle-orm';

/**
 * A list of values as one array parameter, for `column = ANY(…)`: one bind however long the list,
 * where drizzle's `inArray` binds one parameter a value (and PostgreSQL takes at most 65,535 in a
 * statement). Each element is quoted in the array literal (PostgreSQL "Array Value Input"), so no
 * value can split into two elements.
 */
function arrayParameter(values: readonly string[], type: 'uuid' | 'text'): SQL {
  const literal = `{${values.map((v) => `"${v.replace(/["\\]/g, '\\$&')}"`).join(',')}}`;
  return type === 'uuid' ? sql`${literal}::uuid[]` : sql`${literal}::text[]`;
}

/** Ids as one `uuid[]` parameter: `WHERE id = ANY(${uuidArray(ids)})`. */
export const uuidArray = (ids: readonly string[]): SQL => arrayParameter(ids, 'uuid');

/** Text values as one `text[]` parameter: `WHERE kid = ANY(${textArray(kids)})`. */
export const textArray = (values: readonly string[]): SQL => arrayParameter(values, 'text');
