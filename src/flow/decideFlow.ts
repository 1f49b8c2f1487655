import { AppError } from '../errors/catalogue.ts';
import type { EventDraft } from '../eventsourcing/commandHandler.ts';
import type { FlowDefinition } from './flowDefinition.ts';
import type { FlowState } from './flowEvents.ts';

/**
 * Decisions on a flow's stream, pure: saving appends the next version (a published version is never
 * rewritten), publishing names a saved one. Another organization's flow is no flow at all.
 */
export function ownFlow(state: FlowState | undefined, organizationId: string): FlowState {
  if (!state || state.organizationId !== organizationId) throw new AppError('http.not_found', 'No such flow');
  return state;
}

export function decideSaveDraft(
  state: FlowState | undefined,
  command: { organizationId: string; flowId: string; name?: string; definition: FlowDefinition },
): EventDraft {
  const flow = ownFlow(state, command.organizationId);
  const version = flow.latestVersion + 1;
  return {
    type: 'FlowDraftSaved',
    data: {
      flowId: command.flowId,
      version,
      name: command.name ?? flow.name,
      definition: command.definition,
    },
  };
}

/** The FlowPublished event, or null when that version is already the published one. */
export function decidePublish(
  state: FlowState | undefined,
  command: { organizationId: string; flowId: string; version?: number },
): EventDraft | null {
  const flow = ownFlow(state, command.organizationId);
  const version = command.version ?? flow.latestVersion;
  if (version > flow.latestVersion) {
    throw new AppError('identity.invalid_reference', `The flow has no version ${version}`, [
      { path: '/version', message: `no such version (the latest is ${flow.latestVersion})` },
    ]);
  }
  if (flow.publishedVersion === version) return null;
  return { type: 'FlowPublished', data: { flowId: command.flowId, version } };
}
