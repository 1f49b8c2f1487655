import { AppError, type ErrorCode, errorCatalogue } from '../errors/catalogue.ts';
import type { HttpResult } from './route.ts';

const problemTypeBase = 'https://pytake.dev/errors/';

const unexpectedDetail = 'An unexpected error occurred. Quote the request id when reporting it.';

/**
 * RFC 9457 Problem Details for anything thrown. Only an AppError's own detail reaches the client:
 * any other error is a bug whose message may hold internals, so it becomes a generic 500.
 */
export function problemFor(error: unknown, requestId: string): HttpResult {
  const appError = error instanceof AppError ? error : undefined;
  const code: ErrorCode = appError?.code ?? 'internal.unexpected';
  const { status, title } = errorCatalogue[code];
  const errors = appError?.errors ?? [];
  return {
    status,
    headers: { ...appError?.headers, 'content-type': 'application/problem+json' },
    body: {
      type: problemTypeBase + code,
      title,
      status,
      detail: appError?.message ?? unexpectedDetail,
      code,
      ...(errors.length > 0 ? { errors } : {}),
      requestId,
    },
  };
}
