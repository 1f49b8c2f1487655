/**
 * Ceiling A of scripts/bench/ingest.ts: a bare uWS endpoint that reads each POST's body and answers
 * 200, the most this machine's HTTP layer can do under the same wrk load. Prints its port once
 * listening. Run as `node --import tsx scripts/bench/ingest/bareServer.ts`.
 */
import uWS from '../../../src/http/uws.ts';

uWS
  .App()
  .post('/*', (res) => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    res.onData((_chunk, isLast) => {
      if (isLast && !aborted) res.cork(() => res.end('EVENT_RECEIVED'));
    });
  })
  .listen('127.0.0.1', 0, (socket) => {
    if (!socket) {
      console.error('bare uWS endpoint: cannot listen');
      process.exit(1);
    }
    console.log(uWS.us_socket_local_port(socket));
  });
