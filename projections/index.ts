import type { Projection } from '../src/projection/projection.ts';
import { conversationsProjection } from './conversations.ts';
import { conversationTimersProjection } from './conversationTimers.ts';
import { flowRunsProjection } from './flowRuns.ts';
import { flowSecretsProjection } from './flowSecrets.ts';
import { flowsProjection } from './flows.ts';
import { identityProjection } from './identity.ts';
import { outboundProjection } from './outbound.ts';

/** Every projection the server runs, in start order; `npm run replay` rebuilds them by name. */
export const allProjections: Projection[] = [
  identityProjection,
  outboundProjection,
  conversationTimersProjection,
  conversationsProjection,
  flowsProjection,
  flowRunsProjection,
  flowSecretsProjection,
] as Projection[];
