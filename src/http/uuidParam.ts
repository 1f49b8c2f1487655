import { AppError } from '../errors/catalogue.ts';
import { uuidPattern } from '../lang/uuid.ts';
import type { HttpRequest } from './route.ts';

/** A path id that is not a UUID names nothing: 404, never a database error. */
export function uuidParam(req: HttpRequest, name = 'id'): string {
  const value = req.params[name];
  if (!value || !uuidPattern.test(value)) throw new AppError('http.not_found', 'No such resource');
  return value.toLowerCase();
}
