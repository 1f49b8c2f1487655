import { AppError } from '../errors/catalogue.ts';

// `application/json` and structured-syntax types such as `application/merge-patch+json`.
const jsonMediaType = /^application\/([\w.-]+\+)?json$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses a JSON request body, refusing other media types (415) and unparseable bytes (400). */
export function parseJsonBody(raw: Buffer, contentType: string | undefined): unknown {
  const mediaType = contentType?.split(';')[0]?.trim().toLowerCase();
  if (mediaType === undefined || !jsonMediaType.test(mediaType)) {
    const received = mediaType ? mediaType.slice(0, 100) : 'none';
    throw new AppError(
      'http.unsupported_media_type',
      `Content-Type must be application/json, got ${received}`,
    );
  }
  if (raw.length === 0) throw new AppError('http.malformed_json', 'The request body is empty');
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    throw new AppError('http.malformed_json', 'The request body is not valid UTF-8');
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new AppError('http.malformed_json', (error as Error).message);
  }
}
