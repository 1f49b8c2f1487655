import type { DatabasePool } from 'slonik';
import type { Config } from '../config/config.ts';
import type { EventStore } from '../eventstore/eventStore.ts';
import type { Route } from '../http/route.ts';
import type { Logger } from '../log/logger.ts';
import type { ProjectionRunner } from '../projection/projectionRunner.ts';
import { createAccessTokens, loadSigningKeys } from './accessTokens.ts';
import { Authenticator } from './authenticator.ts';
import { authRoutes } from './authRoutes.ts';
import { channelRoutes } from './channelRoutes.ts';
import type { IdentityDeps } from './identityDeps.ts';
import { primeDummyHash } from './passwords.ts';
import { LoginRateLimiter } from './rateLimiter.ts';
import { createSecretBox, loadEncryptionKeys } from './secretBox.ts';
import { Sessions } from './sessions.ts';
import { teamRoutes } from './teamRoutes.ts';
import { userRoutes } from './userRoutes.ts';

/** Builds the identity capability: keys, sessions, the authenticator, and its routes. */
export async function createIdentity(
  config: Config,
  logger: Logger,
  parts: {
    store: EventStore;
    pool: DatabasePool;
    projections: ProjectionRunner;
    verifyPhoneNumber: IdentityDeps['verifyPhoneNumber'];
  },
): Promise<{ deps: IdentityDeps; routes: Route[] }> {
  const accessTokens = createAccessTokens({
    keys: loadSigningKeys(config, logger),
    ttlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
  });
  // Computed now, not on the first login with an unknown email, so that one is not slower.
  await primeDummyHash();
  const deps: IdentityDeps = {
    ...parts,
    authenticator: new Authenticator(parts.pool, accessTokens),
    sessions: new Sessions(parts.pool, accessTokens),
    secretBox: createSecretBox(loadEncryptionKeys(config, logger)),
    rateLimiter: LoginRateLimiter.fromConfig(config),
    allowSignup: config.ALLOW_SIGNUP,
  };
  return {
    deps,
    routes: [...authRoutes(deps), ...userRoutes(deps), ...teamRoutes(deps), ...channelRoutes(deps)],
  };
}
