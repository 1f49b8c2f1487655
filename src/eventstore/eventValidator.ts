import { AppError, type FieldError } from '../errors/catalogue.ts';
import { uuidPattern } from '../lang/uuid.ts';
import type { SchemaRegistry } from '../schemas/schemaRegistry.ts';
import type { NewEvent } from './eventStore.ts';

/**
 * Checks events before they are appended: a UUID id, metadata matching schemas/eventstore/metadata,
 * and data matching `schemas/events/<type>.v<schemaVersion>`. Throws `eventstore.invalid_event`
 * naming the event type and the failing paths; an event type with no schema is refused too.
 */
export function validateEvents(registry: SchemaRegistry, events: NewEvent[]): void {
  events.forEach((event, index) => {
    const where = `events/${index} (${String(event.type)})`;
    if (typeof event.id !== 'string' || !uuidPattern.test(event.id)) {
      throw new AppError('eventstore.invalid_event', `${where}: id must be a UUID`, [
        { path: `/${index}/id`, message: 'must be a UUID' },
      ]);
    }
    const metadataErrors = registry.validate('eventstore/metadata', event.metadata);
    if (metadataErrors.length > 0) throw invalid(where, index, 'metadata', metadataErrors);
    const schemaId = `events/${event.type}.v${event.metadata.schemaVersion}`;
    if (!registry.has(schemaId)) {
      throw new AppError('eventstore.invalid_event', `${where}: no schema ${schemaId}`, [
        { path: `/${index}/type`, message: `unknown event type or version (${schemaId})` },
      ]);
    }
    const dataErrors = registry.validate(schemaId, event.data);
    if (dataErrors.length > 0) {
      throw new AppError(
        'eventstore.invalid_event',
        `${where}: data ${dataErrors.map((e) => `${e.path} ${e.message}`).join('; ')}`,
        dataErrors.map((e) => ({
          path: `/${index}/data${e.path === '/' ? '' : e.path}`,
          message: e.message,
        })),
      );
    }
  });
}

/** The field errors of an event's metadata or data, re-rooted at `/<index>/<part>`. */
function invalid(where: string, index: number, part: 'metadata' | 'data', errors: FieldError[]): AppError {
  return new AppError(
    'eventstore.invalid_event',
    `${where}: ${part} ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}`,
    errors.map((e) => ({ path: `/${index}/${part}${e.path === '/' ? '' : e.path}`, message: e.message })),
  );
}
