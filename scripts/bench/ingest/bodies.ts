/**
 * Pre-signed webhook bodies for wrk (signedBodies.lua): one `signature<TAB>body` line per request,
 * in one file per wrk thread, so the threads send disjoint sets. Each body is what Meta sends for
 * one inbound text message: one entry, one change, metadata, the contact and the message.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { signatureHeader, textMessage, webhookBody } from '../../../test/support/metaWebhook.ts';
import type { Conversation } from './tenants.ts';

/**
 * Writes `count` bodies to `<prefix>.<thread>`. Body k goes to conversation k mod n (round-robin)
 * and to thread k mod threads, and carries the wamid `wamidPrefix` + k: unique within a run, and
 * recognisable in the store afterwards.
 */
export function writeSignedBodies(
  prefix: string,
  options: {
    conversations: Conversation[];
    count: number;
    threads: number;
    secret: string;
    wamidPrefix: string;
  },
): void {
  const { conversations, count, threads, secret, wamidPrefix } = options;
  const timestamp = Math.floor(Date.now() / 1000);
  const files = Array.from({ length: threads }, (_, thread) => ({
    fd: openSync(`${prefix}.${thread}`, 'w'),
    lines: [] as string[],
  }));
  const flush = (file: { fd: number; lines: string[] }) => {
    writeSync(file.fd, file.lines.join(''));
    file.lines = [];
  };
  for (let k = 0; k < count; k += 1) {
    const { phoneNumberId, waId, name } = conversations[k % conversations.length] as Conversation;
    const text = `Olá! Gostaria de saber o status do meu pedido #${k}, fiz a compra ontem e ainda não recebi o código de rastreio.`;
    const raw = JSON.stringify(
      webhookBody({
        phoneNumberId,
        contacts: [{ waId, name }],
        messages: [textMessage(waId, `${wamidPrefix}${k}`, text, timestamp)],
      }),
    );
    const file = files[k % threads] as (typeof files)[number];
    file.lines.push(`${signatureHeader(raw, secret)}\t${raw}\n`);
    if (file.lines.length === 10_000) flush(file);
  }
  for (const file of files) {
    flush(file);
    closeSync(file.fd);
  }
}
