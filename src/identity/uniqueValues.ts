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

/**
 * Claims a value that must be unique (an email across the platform, a phone number id, a role name
 * within an organization) before the owner is created: one stream per value, appended to only if
 * it does not exist yet, so two concurrent claims cannot both win. Claiming again for the same
 * owner succeeds (a retried command).
 */
export async function claimUnique(
  store: EventStore,
  kind: UniqueKind,
  value: string,
  ownerId: string,
  context: CommandContext,
): Promise<void> {
  const streamName = `unique-${deterministicId(`${kind}:${value}`)}`;
  try {
    await store.appendToStream(
      streamName,
      toNewEvents([{ type: 'UniqueValueReserved', data: { kind, value, ownerId } }], context),
      'no_stream',
    );
  } catch (error) {
    if (!(error instanceof WrongExpectedRevisionError)) throw error;
    const [claim] = await store.readStream(streamName, { maxCount: 1 });
    if ((claim?.data as { ownerId?: string } | undefined)?.ownerId !== ownerId) {
      throw new AppError(takenCodes[kind], `${kind.replaceAll('_', ' ')} is already in use`, [
        {
          path: kind === 'email' ? '/email' : kind === 'role_name' ? '/name' : '/phoneNumberId',
          message: 'already in use',
        },
      ]);
    }
  }
}
