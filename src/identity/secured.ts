import { AppError } from '../errors/catalogue.ts';
import type { CommandContext } from '../eventsourcing/commandHandler.ts';
import type { HttpRequest, HttpResult, Route } from '../http/route.ts';
import type { Authenticator, Principal } from './authenticator.ts';
import type { Permission } from './permissions.ts';

export type SecuredHandler = (req: HttpRequest, principal: Principal) => Promise<HttpResult>;
/** `authenticated`: any signed-in user (GET /me); otherwise the permission the caller must hold. */
export type SecuredRoute = Omit<Route, 'access' | 'handler'> & {
  permission: Permission | 'authenticated';
  handler: SecuredHandler;
};

/** The caller as the author of a command's events; the request id becomes their correlation id. */
export const commandContext = (me: Principal, req?: Pick<HttpRequest, 'requestId'>): CommandContext => ({
  organizationId: me.organizationId,
  actor: me.userId,
  ...(req === undefined ? {} : { correlationId: req.requestId }),
});

/**
 * Builds protected routes: authenticate (401), then check the route's permission (403), then run
 * the handler with the principal. The route's `access` is its permission, for the route-table test
 * and the OpenAPI document.
 */
export function securedRoutes(authenticator: Authenticator): (route: SecuredRoute) => Route {
  return ({ permission, handler, ...route }) => ({
    ...route,
    access: permission,
    handler: async (req) => {
      const principal = await authenticator.authenticate(req.headers.authorization);
      if (permission !== 'authenticated' && !principal.permissions.includes(permission)) {
        throw new AppError('auth.forbidden', `This requires the ${permission} permission`);
      }
      return handler(req, principal);
    },
  });
}
