import WebSocket from 'ws';

// biome-ignore lint/suspicious/noExplicitAny: tests read frames field by field and assert on them
export type Frame = any;

/**
 * A console's socket for tests: every frame received is kept, in order; `next` waits for the next one
 * matching a predicate (frames before it are skipped, later ones kept for the next call).
 */
export class TestSocket {
  readonly frames: Frame[] = [];
  private cursor = 0;
  private wake: (() => void) | undefined;
  readonly closed: Promise<{ code: number; reason: string }>;
  private closedWith: { code: number; reason: string } | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      this.frames.push(isBinary ? { binary: true } : JSON.parse(data.toString()));
      this.wake?.();
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closedWith = { code, reason: reason.toString() };
        resolve(this.closedWith);
        this.wake?.();
      });
    });
  }

  /** Opens `/ws` with the token as a subprotocol (the browser way) or in the query string. */
  static open(
    port: number,
    token: string,
    style: 'protocol' | 'query' = 'protocol',
    options: WebSocket.ClientOptions = {},
  ): Promise<TestSocket> {
    const ws =
      style === 'protocol'
        ? new WebSocket(`ws://127.0.0.1:${port}/ws`, ['pytake.v1', `bearer.${token}`], options)
        : new WebSocket(`ws://127.0.0.1:${port}/ws?access_token=${encodeURIComponent(token)}`, options);
    const socket = new TestSocket(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(socket));
      ws.once('error', reject);
    });
  }

  /** An upgrade that should be refused: its status and body. */
  static refused(url: string, protocols?: string[]): Promise<{ status: number; body: string }> {
    const ws = new WebSocket(url, protocols);
    return new Promise((resolve, reject) => {
      ws.once('open', () => reject(new Error('the upgrade was accepted')));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => {
          body += chunk.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      ws.once('error', () => undefined);
    });
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The next frame (after those already taken) matching `predicate`. */
  async next(predicate: (frame: Frame) => boolean = () => true, timeoutMs = 10_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.cursor < this.frames.length) {
        const frame = this.frames[this.cursor++];
        if (predicate(frame)) return frame;
      }
      const left = deadline - Date.now();
      if (left <= 0 || this.ws.readyState >= WebSocket.CLOSING) {
        const state = this.closedWith ? `closed ${this.closedWith.code} ${this.closedWith.reason}` : 'open';
        throw new Error(
          `no matching frame (socket ${state}); got ${JSON.stringify(this.frames).slice(-2000)}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Sends a ping and waits for its pong: every frame sent before has been handled by then. */
  async roundTrip(): Promise<void> {
    this.send({ op: 'ping' });
    await this.next((frame) => frame.op === 'pong');
  }

  close(): void {
    this.ws.close();
  }
}
