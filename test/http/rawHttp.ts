import { once } from 'node:events';
import net from 'node:net';

export type RawResponse = { status: number; headers: Record<string, string>; body: string };

/**
 * A bare TCP client, for what fetch cannot do: send half a body, send a chunked body by hand, reuse one
 * keep-alive connection on purpose, or watch the server close the socket.
 */
export class RawConnection {
  private buffer = Buffer.alloc(0);
  private waiting: (() => void) | undefined;
  readonly closed: Promise<void>;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.waiting?.();
    });
    // A reset after the server answered and closed is expected in these tests.
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.waiting?.();
        resolve();
      });
    });
  }

  static async open(port: number): Promise<RawConnection> {
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    return new RawConnection(socket);
  }

  get isClosed(): boolean {
    return this.socket.closed;
  }

  /** Resolves once the bytes are handed to the kernel; false if the server already closed. */
  write(data: string | Buffer): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve(false);
      this.socket.write(data, (error) => resolve(!error));
    });
  }

  /** Reads the next response on this connection (bodies framed by Content-Length, as uWS sends them). */
  async readResponse(options: { head?: boolean } = {}): Promise<RawResponse> {
    for (;;) {
      const response = this.parse(options.head ?? false);
      if (response) return response;
      if (this.socket.closed)
        throw new Error(`connection closed; received ${JSON.stringify(this.buffer.toString())}`);
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
      });
    }
  }

  destroy(): void {
    this.socket.destroy();
  }

  private parse(head: boolean): RawResponse | undefined {
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end === -1) return undefined;
    const [statusLine = '', ...lines] = this.buffer.subarray(0, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = head ? 0 : Number(headers['content-length'] ?? 0);
    if (this.buffer.length < end + 4 + length) return undefined;
    const body = this.buffer.subarray(end + 4, end + 4 + length).toString('utf8');
    this.buffer = this.buffer.subarray(end + 4 + length);
    return { status: Number(statusLine.split(' ')[1]), headers, body };
  }
}
