/** The server's own counters (GET /metrics), as the ingest benchmark reads them. */
import { setTimeout as sleep } from 'node:timers/promises';

export async function scrape(base: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const samples = text.split('\n').flatMap((line) => {
    const match = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    return match ? [[match[1] as string, Number(match[2])] as const] : [];
  });
  return new Map(samples);
}

export const deliveredOk = 'whatsapp_webhook_deliveries_total{outcome="ok"}';

/**
 * Waits until the server has finished the requests wrk left in flight when it stopped (their
 * appends still happen). The scrape itself is one request in flight.
 */
export async function waitUntilIdle(base: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while ((await scrape(base)).get('http_requests_in_flight') !== 1) {
    if (Date.now() > deadline) throw new Error('the server still has requests in flight after 30 s');
    await sleep(50);
  }
}
