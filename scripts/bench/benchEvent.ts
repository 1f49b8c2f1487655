import { randomBytes, randomUUID } from 'node:crypto';
import type { NewEvent } from '../../src/eventstore/eventStore.ts';

const organizationId = randomUUID();
let counter = 0;

/**
 * The benchmarks' event: an inbound WhatsApp text message, ~300 bytes of data and ~230 of metadata
 * (schema: scripts/bench/schemas/events/). `from` defaults to a customer number of its own.
 */
export function benchEvent(from = `55119${String(counter % 100_000_000).padStart(8, '0')}`): NewEvent {
  counter += 1;
  const now = new Date();
  return {
    id: randomUUID(),
    type: 'BenchEventRecorded',
    data: {
      wamid: `wamid.HBgMNTUxMTk4NzY1NDMyFQIAEhgg${randomBytes(12).toString('hex').toUpperCase()}AA==`,
      from,
      phoneNumberId: '106540352242922',
      timestamp: String(Math.floor(now.getTime() / 1000)),
      type: 'text',
      text: {
        body: `Olá! Gostaria de saber o status do meu pedido #${counter}, fiz a compra ontem e ainda não recebi o código de rastreio.`,
      },
      contactName: 'Maria Silva',
    },
    metadata: {
      organizationId,
      correlationId: randomUUID(),
      causationId: null,
      actor: 'meta-webhook',
      occurredAt: now.toISOString(),
      schemaVersion: 1,
    },
  };
}
