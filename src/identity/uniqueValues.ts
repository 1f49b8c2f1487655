import { AppError, type ErrorCode } from '../errors/catalogue.ts';
import { type CommandContext, toNewEvents } from '../eventsourcing/commandHandler.ts';
import { deterministicId } from '../eventsourcing/deterministicId.ts';
import { WrongExpectedRevisionError } from '../eventstore/errors.ts';
import type { EventStore } from '../eventstore/eventStore.ts';

export type UniqueKind = 'email' | 'phone_number_id' | 'role_name';

const takenCodes: Record<UniqueKind, ErrorCode> = {
  email: 'identity.email_taken',
  phone_number_id: 'identity.phone_number_taken',
  role_name: 'identity.role_name_taken',
};

/** The request-body field each kind of value comes from, for the 409's field error. */
const takenPaths: Record<UniqueKind, string> = {
  email: '/email',
  phone_number_id: '/phoneNumberId',
  role_name: '/name',
};

type Claim = { ownerId: string };
const streamOf = (kind: UniqueKind, value: string) => `unique-${deterministicId(`${kind}:${value}`)}`;

/**
 * Claims a value that must be unique (an email across the platform, a phone number id, a role name
 * within an organization) before the owner is created: one stream per value, appended to only at
 * the revision its claimer read, so two concurrent claims cannot both win. A released value can be
 * claimed again; claiming again for the same owner succeeds (a retried command).
 */
export async function claimUnique(
  store: EventStore,
  kind: UniqueKind,
  value: string,
  ownerId: string,
  context: CommandContext,
): Promise<void> {
  const streamName = streamOf(kind, value);
  for (;;) {
    const [last] = await store.readStream(streamName, { direction: 'backwards', maxCount: 1 });
    if (last?.type === 'UniqueValueReserved') {
      if ((last.data as Claim).ownerId === ownerId) return;
      throw new AppError(takenCodes[kind], `${kind.replaceAll('_', ' ')} is already in use`, [
        { path: takenPaths[kind], message: 'already in use' },
      ]);
    }
    try {
      await store.appendToStream(
        streamName,
        toNewEvents([{ type: 'UniqueValueReserved', data: { kind, value, ownerId } }], context),
        last ? last.revision : 'no_stream',
      );
      return;
    } catch (error) {
      // Someone claimed (or released) it meanwhile: look again.
      if (!(error instanceof WrongExpectedRevisionError)) throw error;
    }
  }
}

/** Gives a value back when its owner goes away (a deleted user's email, a disconnected number). */
export async function releaseUnique(
  store: EventStore,
  kind: UniqueKind,
  value: string,
  ownerId: string,
  context: CommandContext,
): Promise<void> {
  const streamName = streamOf(kind, value);
  const [last] = await store.readStream(streamName, { direction: 'backwards', maxCount: 1 });
  if (last?.type !== 'UniqueValueReserved' || (last.data as Claim).ownerId !== ownerId) return;
  await store
    .appendToStream(
      streamName,
      toNewEvents([{ type: 'UniqueValueReleased', data: { kind, value, ownerId } }], context),
      last.revision,
    )
    .catch((error: unknown) => {
      // Released or re-claimed meanwhile: either way it is no longer this owner's.
      if (!(error instanceof WrongExpectedRevisionError)) throw error;
    });
}
