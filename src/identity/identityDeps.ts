import type { DatabasePool } from 'slonik';
import type { EventStore } from '../eventstore/eventStore.ts';
import type { ProjectionRunner } from '../projection/projectionRunner.ts';
import type { Authenticator } from './authenticator.ts';
import type { LoginRateLimiter } from './rateLimiter.ts';
import type { SecretBox } from './secretBox.ts';
import type { Sessions } from './sessions.ts';

/** What the identity routes need, built once in src/main.ts. */
export type IdentityDeps = {
  store: EventStore;
  pool: DatabasePool;
  projections: ProjectionRunner;
  authenticator: Authenticator;
  sessions: Sessions;
  secretBox: SecretBox;
  rateLimiter: LoginRateLimiter;
  allowSignup: boolean;
  /** Throws an AppError unless the access token controls the phone number (CHANNEL_VERIFICATION). */
  verifyPhoneNumber: (phoneNumberId: string, accessToken: string) => Promise<void>;
};
