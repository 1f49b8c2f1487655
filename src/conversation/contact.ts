import { AppError } from '../errors/catalogue.ts';
import { deterministicId } from '../eventsourcing/deterministicId.ts';
import type { RecordedEvent } from '../eventstore/eventStore.ts';

/**
 * A contact is one customer (wa_id) of one organization, whatever number they write to. Its id is a
 * UUIDv5 of the two, so the conversation projection and the contact routes find it without a lookup.
 * What WhatsApp says about it (the profile name) arrives with conversation events; what agents say
 * (a name, custom attributes) is recorded on its own stream `contact-<contactId>`.
 */
export const contactIdFor = (organizationId: string, waId: string): string =>
  deterministicId(`contact/${organizationId}/${waId}`);

export const contactStream = (contactId: string) => `contact-${contactId}`;

/** Bounds of a contact's custom attributes (the schemas bound each change the same way). */
export const maxContactAttributes = 50;

export type AttributeValue = string | number | boolean;
export type ContactPatch = { name?: string | null; attributes?: Record<string, AttributeValue | null> };

export type ContactUpdated = {
  type: 'ContactUpdated';
  data: { name?: string | null; attributes?: Record<string, AttributeValue | null> };
};

/** What agents have set on a contact, from its stream. */
export type ContactState = {
  organizationId: string | null;
  name: string | null;
  attributes: Record<string, AttributeValue>;
};

export const initialContactState = (): ContactState => ({ organizationId: null, name: null, attributes: {} });

export function evolveContact(state: ContactState, event: RecordedEvent): ContactState {
  if (event.type !== 'ContactUpdated') return state;
  const { data } = event as unknown as ContactUpdated;
  return {
    organizationId: state.organizationId ?? event.metadata.organizationId,
    name: data.name === undefined ? state.name : data.name,
    attributes:
      data.attributes === undefined ? state.attributes : mergeAttributes(state.attributes, data.attributes),
  };
}

/** Key by key: a value sets the key, null removes it. */
export function mergeAttributes(
  current: Readonly<Record<string, AttributeValue>>,
  patch: Readonly<Record<string, AttributeValue | null>>,
): Record<string, AttributeValue> {
  const merged: Record<string, AttributeValue> = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete merged[key];
    else merged[key] = value;
  }
  return merged;
}

/**
 * The event a PATCH makes, holding only what it changes; null when it changes nothing. Refuses a
 * change that would leave more than `maxContactAttributes` keys.
 */
export function decideContactUpdate(state: ContactState, patch: ContactPatch): ContactUpdated | null {
  const data: ContactUpdated['data'] = {};
  if (patch.name !== undefined && patch.name !== state.name) data.name = patch.name;
  if (patch.attributes !== undefined) {
    const changes: Record<string, AttributeValue | null> = {};
    for (const [key, value] of Object.entries(patch.attributes)) {
      const has = Object.hasOwn(state.attributes, key);
      if (value === null ? has : !has || state.attributes[key] !== value) changes[key] = value;
    }
    const count = Object.keys(mergeAttributes(state.attributes, changes)).length;
    if (count > maxContactAttributes) {
      throw new AppError(
        'http.validation_failed',
        `A contact holds at most ${maxContactAttributes} attributes; this change would leave ${count}`,
        [{ path: '/attributes', message: `must leave at most ${maxContactAttributes} keys` }],
      );
    }
    if (Object.keys(changes).length > 0) data.attributes = changes;
  }
  return Object.keys(data).length === 0 ? null : { type: 'ContactUpdated', data };
}
