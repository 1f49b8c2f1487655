import type { DatabasePool } from 'slonik';
import { AppError } from '../errors/catalogue.ts';
import { toNewEvents } from '../eventsourcing/commandHandler.ts';
import { WrongExpectedRevisionError } from '../eventstore/errors.ts';
import type { EventStore } from '../eventstore/eventStore.ts';
import { queryLimit, queryMatching, queryParam } from '../http/queryParams.ts';
import type { Route } from '../http/route.ts';
import { uuidParam } from '../http/uuidParam.ts';
import type { Authenticator, Principal } from '../identity/authenticator.ts';
import { securedRoutes } from '../identity/secured.ts';
import type { ProjectionRunner } from '../projection/projectionRunner.ts';
import {
  type ContactPatch,
  contactStream,
  decideContactUpdate,
  evolveContact,
  initialContactState,
} from './contact.ts';
import { findContact, listContacts } from './conversationQueries.ts';

export type ContactRouteDeps = {
  pool: DatabasePool;
  authenticator: Authenticator;
  store: EventStore;
  projections: Pick<ProjectionRunner, 'waitFor'>;
};

/** Contacts of the caller's organization: search, read, and what agents set (a name, attributes). */
export function contactRoutes(deps: ContactRouteDeps): Route[] {
  const secured = securedRoutes(deps.authenticator);

  const existing = async (me: Principal, contactId: string) => {
    const contact = await findContact(deps.pool, me.organizationId, contactId);
    if (!contact) throw new AppError('http.not_found', 'No such contact');
    return contact;
  };

  return [
    secured({
      permission: 'contacts.read',
      method: 'GET',
      path: '/api/v1/contacts',
      response: 'api/contactList',
      summary:
        'Contacts, most recently seen first (search: a phone number matches wa_ids by prefix, other text the names)',
      handler: async (req, me) => {
        const search = queryParam(req.query, 'search');
        if (search !== undefined && search.length > 200) {
          throw new AppError('http.invalid_query', 'Query parameter search is too long', [
            { path: '/query/search', message: 'must be at most 200 characters' },
          ]);
        }
        const cursor = queryMatching(
          req.query,
          'cursor',
          /^[A-Za-z0-9_-]{1,200}$/,
          'a cursor from a previous page',
        );
        const page = await listContacts(deps.pool, me.organizationId, {
          limit: queryLimit(req.query, 50, 100),
          ...(search === undefined ? {} : { search }),
          ...(cursor === undefined ? {} : { cursor }),
        });
        return { status: 200, body: page };
      },
    }),
    secured({
      permission: 'contacts.read',
      method: 'GET',
      path: '/api/v1/contacts/:id',
      response: 'api/contact',
      summary: 'One contact',
      handler: async (req, me) => ({ status: 200, body: await existing(me, uuidParam(req)) }),
    }),
    secured({
      permission: 'contacts.write',
      method: 'PATCH',
      path: '/api/v1/contacts/:id',
      body: 'api/updateContact',
      response: 'api/contact',
      summary:
        "Set a contact's name (null: back to its WhatsApp profile name) and merge its attributes (a null value removes a key)",
      handler: async (req, me) => {
        const contactId = uuidParam(req);
        const body = req.json<ContactPatch>();
        await existing(me, contactId);
        const patch: ContactPatch = {
          ...(body.name === undefined ? {} : { name: body.name === null ? null : body.name.trim() }),
          ...(body.attributes === undefined ? {} : { attributes: body.attributes }),
        };
        const position = await updateContact(deps, me, contactId, patch, req.requestId);
        if (position !== null) await deps.projections.waitFor(position, 'ContactUpdated');
        // Its position is the change's once the read model has it (read-your-writes).
        return { status: 200, body: await existing(me, contactId) };
      },
    }),
  ];
}

/**
 * Read the contact's stream, decide, append with the expected revision; when another writer got
 * there first, read again and decide again. Returns the event's position, or null when the patch
 * changes nothing.
 */
async function updateContact(
  deps: ContactRouteDeps,
  me: Principal,
  contactId: string,
  patch: ContactPatch,
  correlationId: string,
): Promise<bigint | null> {
  const stream = contactStream(contactId);
  for (let attempt = 1; ; attempt += 1) {
    const history = await deps.store.readStream(stream);
    const state = history.reduce(evolveContact, initialContactState());
    // The contact id derives from the organization: a stream of another tenant's is not this contact.
    if (state.organizationId !== null && state.organizationId !== me.organizationId) {
      throw new AppError('http.not_found', 'No such contact');
    }
    const event = decideContactUpdate(state, patch);
    if (event === null) return null;
    const last = history.at(-1);
    try {
      const { position } = await deps.store.appendToStream(
        stream,
        toNewEvents([event], { organizationId: me.organizationId, actor: me.userId, correlationId }),
        last ? last.revision : 'no_stream',
      );
      return position;
    } catch (error) {
      if (!(error instanceof WrongExpectedRevisionError) || attempt >= 5) throw error;
    }
  }
}
