import { AppError } from '../errors/catalogue.ts';
import type { GraphClient } from './graphClient.ts';

/**
 * Proof that a business controls the WhatsApp number it connects: the Graph API shows the number to
 * its access token. Without it, the first organization to name a phone number id would receive that
 * number's webhooks. `off` (tests, offline development) accepts every number.
 */
export function phoneNumberVerifier(
  graph: GraphClient,
  mode: 'graph' | 'off',
): (phoneNumberId: string, accessToken: string) => Promise<void> {
  if (mode === 'off') return async () => undefined;
  return async (phoneNumberId, accessToken) => {
    const outcome = await graph.phoneNumber(phoneNumberId, accessToken);
    if (outcome.ok) return;
    if (outcome.retryable) {
      throw new AppError(
        'service.unavailable',
        `The Graph API could not confirm the number now: ${outcome.error.title}`,
        [],
        {
          'retry-after': '5',
        },
      );
    }
    throw new AppError(
      'identity.channel_not_verified',
      `Meta refused to show phone number ${phoneNumberId} to this access token (${outcome.error.code}: ${outcome.error.title})`,
      [{ path: '/accessToken', message: 'cannot read this phone number on the Graph API' }],
    );
  };
}
