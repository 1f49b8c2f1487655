/**
 * `npm run audit -- <conversation id | stream name>`: prints that stream's events in order, one
 * block per event, readable by a person. A bare UUID means the stream `conversation-<uuid>`.
 */
import { openOperatorStores } from './operatorStores.ts';

const target = process.argv[2];
if (!target) {
  console.error('usage: npm run audit -- <conversation id | stream name>');
  process.exit(2);
}
const streamName = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(target)
  ? `conversation-${target}`
  : target;

const { store, close } = await openOperatorStores({ migrate: false, poolSize: 2 });
try {
  const events = await store.readStream(streamName);
  if (events.length === 0) console.log(`${streamName}: no events`);
  for (const event of events) {
    const { actor, occurredAt, correlationId, causationId } = event.metadata;
    console.log(
      `#${event.revision} ${event.type}  at ${occurredAt}  by ${actor}  (position ${event.position})`,
    );
    console.log(`   correlation ${correlationId}${causationId ? `  caused by ${causationId}` : ''}`);
    console.log(`   ${JSON.stringify(event.data, null, 2).replaceAll('\n', '\n   ')}`);
  }
} finally {
  await close();
}
