import { STATUS_CODES } from 'node:http';
import { AppError } from '../errors/catalogue.ts';
import type { EncodedResponse } from './encodeResult.ts';
import type { HttpResponse } from './uws.ts';

/** Thrown into a pending body read when the client goes away; nobody is left to answer. */
export class ClientGoneError extends Error {
  override name = 'ClientGoneError';
}

/**
 * The one owner of a uWS response. uWS frees the response on abort and invalidates it once ended;
 * touching it after either crashes the process, so every access goes through here and checks first.
 * Must be constructed synchronously in the uWS handler, before any await.
 */
export class Exchange {
  /** Made when a handler asks for the signal: most never do. */
  private controller: AbortController | undefined;
  private aborted = false;
  private onAbortBody: (() => void) | undefined;
  private ended = false;
  /** Body bytes the client may still send; answering then closes the connection instead of reading on. */
  private bodyUnread: boolean;
  /** The head announced a body (Content-Length or Transfer-Encoding). */
  readonly expectsBody: boolean;
  readonly remoteAddress: string;

  constructor(
    private readonly res: HttpResponse,
    expectsBody: boolean,
  ) {
    this.bodyUnread = expectsBody;
    this.expectsBody = expectsBody;
    res.onAborted(() => {
      this.ended = true;
      this.aborted = true;
      this.controller?.abort();
      this.onAbortBody?.();
    });
    this.remoteAddress = Buffer.from(res.getRemoteAddressAsText()).toString();
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort();
    }
    return this.controller.signal;
  }

  /**
   * Buffers the body up to `limit` bytes. Must be called before the first await: uWS delivers the
   * chunks that arrived with the head right after the handler returns, and drops them if no one
   * listens. Past the limit it stops copying and rejects with 413; the answer then closes the socket.
   */
  readBody(limit: number, contentLength: string | undefined): Promise<Buffer> {
    // A declared length over the limit is refused from the head alone, before any byte is read.
    if (contentLength !== undefined && Number(contentLength) > limit) {
      return Promise.reject(new AppError('http.body_too_large', `The request body exceeds ${limit} bytes`));
    }
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      const onAbort = () => {
        settled = true;
        reject(new ClientGoneError('client closed the connection before the body was read'));
      };
      this.onAbortBody = onAbort;
      const settle = () => {
        settled = true;
        this.onAbortBody = undefined;
      };
      this.res.onData((chunk, isLast) => {
        if (settled) return;
        size += chunk.byteLength;
        if (size > limit) {
          settle();
          reject(new AppError('http.body_too_large', `The request body exceeds ${limit} bytes`));
          return;
        }
        // uWS neuters the chunk when this callback returns: copy it.
        chunks.push(Buffer.from(new Uint8Array(chunk)));
        if (isLast) {
          settle();
          this.bodyUnread = false;
          resolve(chunks.length === 1 && chunks[0] ? chunks[0] : Buffer.concat(chunks, size));
        }
      });
    });
  }

  /**
   * Writes the whole response in one corked write (required after an await). Returns false when the
   * client is already gone. `close` asks for `Connection: close`, e.g. while shutting down.
   */
  send(response: EncodedResponse, options: { head: boolean; close: boolean }): boolean {
    if (this.ended) return false;
    this.ended = true;
    const close = options.close || this.bodyUnread;
    const { status, headers, payload } = response;
    this.res.cork(() => {
      this.res.writeStatus(`${status} ${STATUS_CODES[status] ?? ''}`);
      for (const [name, value] of Object.entries(headers)) this.res.writeHeader(name, value);
      if (options.head || status === 204 || status === 304) {
        // No body on HEAD, 204 and 304 (end('') would add `Content-Length: 0`). uWS 20.30's
        // endWithoutBody misbehaves when given arguments, so `Connection: close` is written by hand.
        if (close) this.res.writeHeader('connection', 'close');
        this.res.endWithoutBody();
      } else {
        this.res.end(payload ?? '', close);
      }
    });
    return true;
  }
}
