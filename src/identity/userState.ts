import { AppError } from '../errors/catalogue.ts';
import type { RecordedEvent } from '../eventstore/eventStore.ts';

/** What commands on a `user-<id>` stream need to know. */
export type UserState = { organizationId: string; role: string; deleted: boolean };

export function evolveUser(state: UserState | undefined, event: RecordedEvent): UserState | undefined {
  const data = event.data as { role?: string };
  if (event.type === 'UserRegistered') {
    return { organizationId: event.metadata.organizationId, role: data.role ?? '', deleted: false };
  }
  if (!state) return state;
  if (event.type === 'UserUpdated') return { ...state, role: data.role ?? state.role };
  if (event.type === 'UserDeleted') return { ...state, deleted: true };
  return state;
}

/** Another tenant's user, or one that is gone, is simply not found. */
export function existingUser(state: UserState | undefined, organizationId: string): UserState {
  if (!state || state.deleted || state.organizationId !== organizationId) {
    throw new AppError('http.not_found', 'No such user');
  }
  return state;
}
