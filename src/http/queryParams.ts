import { AppError } from '../errors/catalogue.ts';

/**
 * Query string parameters, read and checked: a bad one answers 400 `http.invalid_query` naming it as
 * `/query/<name>`. An empty value (`?cursor=`) counts as absent; a repeated one is refused; unknown
 * parameters are ignored (cache busters).
 */
export function invalidQuery(name: string, message: string): AppError {
  return new AppError('http.invalid_query', `Query parameter ${name} ${message}`, [
    { path: `/query/${name}`, message },
  ]);
}

export function queryParam(query: URLSearchParams, name: string): string | undefined {
  const values = query.getAll(name);
  if (values.length > 1) throw invalidQuery(name, 'must be given at most once');
  const value = values[0];
  return value === undefined || value === '' ? undefined : value;
}

/** A whole number from 1 to `max`; `fallback` when absent. */
export function queryLimit(query: URLSearchParams, fallback: number, max: number, name = 'limit'): number {
  const value = queryParam(query, name);
  if (value === undefined) return fallback;
  const limit = /^\d{1,6}$/.test(value) ? Number(value) : Number.NaN;
  if (!(limit >= 1 && limit <= max)) throw invalidQuery(name, `must be a whole number from 1 to ${max}`);
  return limit;
}

export function queryEnum<T extends string>(
  query: URLSearchParams,
  name: string,
  values: readonly T[],
): T | undefined {
  const value = queryParam(query, name);
  if (value === undefined) return undefined;
  if (!(values as readonly string[]).includes(value))
    throw invalidQuery(name, `must be one of ${values.join(', ')}`);
  return value as T;
}

/** A value matching `pattern` (anchored by the caller); `what` says what was expected. */
export function queryMatching(
  query: URLSearchParams,
  name: string,
  pattern: RegExp,
  what: string,
): string | undefined {
  const value = queryParam(query, name);
  if (value !== undefined && !pattern.test(value)) throw invalidQuery(name, `must be ${what}`);
  return value;
}
