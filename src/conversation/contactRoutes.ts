import type { DatabasePool } from 'slonik';
import { AppError } from '../errors/catalogue.ts';
import type { EventStore } from '../eventstore/eventStore.ts';
import { queryLimit, queryMatching, queryParam } from '../http/queryParams.ts';
import type { Route } from '../http/route.ts';
import { uuidParam } from '../http/uuidParam.ts';
import type { Authenticator, Principal } from '../identity/authenticator.ts';
import { changeEntity } from '../identity/entityCommands.ts';
import { commandContext, securedRoutes } from '../identity/secured.ts';
import type { ProjectionRunner } from '../projection/projectionRunner.ts';
import {
  type ContactPatch,
  type ContactState,
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
        // An agent's change appends ContactUpdated (none when the patch changes nothing); the answer
        // waits until the read model has it (read-your-writes).
        await changeEntity(
          deps,
          contactStream(contactId),
          (state: ContactState | undefined, event) => evolveContact(state ?? initialContactState(), event),
          (state) => {
            const contact = state ?? initialContactState();
            // The contact id derives from the organization: a stream of another tenant's is not this contact.
            if (contact.organizationId !== null && contact.organizationId !== me.organizationId) {
              throw new AppError('http.not_found', 'No such contact');
            }
            return decideContactUpdate(contact, patch);
          },
          commandContext(me, req),
        );
        return { status: 200, body: await existing(me, contactId) };
      },
    }),
  ];
}
