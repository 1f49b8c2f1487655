import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type ContactState,
  contactIdFor,
  decideContactUpdate,
  evolveContact,
  initialContactState,
  maxContactAttributes,
  mergeAttributes,
} from '../../src/conversation/contact.ts';
import { AppError } from '../../src/errors/catalogue.ts';
import type { RecordedEvent } from '../../src/eventstore/eventStore.ts';
import { SchemaRegistry } from '../../src/schemas/schemaRegistry.ts';

const org = '7d4f4d5e-2d0c-4c8e-9a51-3f1a7c9e0b11';
const recorded = (data: unknown, organizationId = org): RecordedEvent =>
  ({ type: 'ContactUpdated', data, metadata: { organizationId } }) as unknown as RecordedEvent;

describe('contacts', () => {
  it('derive their id from the organization and the wa_id', () => {
    assert.equal(contactIdFor(org, '15551234567'), contactIdFor(org, '15551234567'));
    assert.notEqual(contactIdFor(org, '15551234567'), contactIdFor(org, '15551234568'));
    assert.notEqual(contactIdFor(org, '15551234567'), contactIdFor(crypto.randomUUID(), '15551234567'));
  });

  it('merge attributes key by key, null removing a key', () => {
    assert.deepEqual(mergeAttributes({ a: 1, b: 'x' }, { b: null, c: true, a: 2 }), { a: 2, c: true });
  });

  it('record only what a change changes, and nothing for a change that changes nothing', () => {
    const state: ContactState = { organizationId: org, name: 'Ana', attributes: { plan: 'gold', seats: 3 } };
    assert.equal(decideContactUpdate(state, { name: 'Ana', attributes: { plan: 'gold', gone: null } }), null);
    assert.deepEqual(
      decideContactUpdate(state, { name: null, attributes: { plan: 'gold', seats: 4, x: null } }),
      {
        type: 'ContactUpdated',
        data: { name: null, attributes: { seats: 4 } },
      },
    );
    assert.deepEqual(decideContactUpdate(state, { attributes: { plan: null } })?.data, {
      attributes: { plan: null },
    });
  });

  it(`refuse a change that would leave more than ${maxContactAttributes} attributes`, () => {
    const full = Object.fromEntries(Array.from({ length: maxContactAttributes }, (_, i) => [`k${i}`, i]));
    const state: ContactState = { organizationId: org, name: null, attributes: full };
    assert.throws(
      () => decideContactUpdate(state, { attributes: { one: 'more' } }),
      (error: unknown) => error instanceof AppError && error.errors[0]?.path === '/attributes',
    );
    // Replacing and removing within the bound is fine.
    assert.ok(decideContactUpdate(state, { attributes: { k0: null, one: 'more' } }));
  });

  it('fold their stream into what agents set, and the events match their schema', () => {
    const registry = new SchemaRegistry();
    const events = [
      { name: 'Ana S.', attributes: { plan: 'gold' } },
      { attributes: { seats: 3, plan: null } },
      { name: null },
    ];
    for (const data of events) assert.deepEqual(registry.validate('events/ContactUpdated.v1', data), []);
    const state = events.map((data) => recorded(data)).reduce(evolveContact, initialContactState());
    assert.deepEqual(state, { organizationId: org, name: null, attributes: { seats: 3 } });
    assert.notDeepEqual(registry.validate('events/ContactUpdated.v1', {}), []);
  });
});
