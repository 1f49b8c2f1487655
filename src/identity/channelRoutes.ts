import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { asTenant } from '../db/pool.ts';
import { AppError } from '../errors/catalogue.ts';
import type { RecordedEvent } from '../eventstore/eventStore.ts';
import type { Route } from '../http/route.ts';
import { uuidParam } from '../http/uuidParam.ts';
import { changeEntity, createEntity } from './entityCommands.ts';
import type { IdentityDeps } from './identityDeps.ts';
import { commandContext, securedRoutes } from './secured.ts';
import { claimUnique, releaseUnique } from './uniqueValues.ts';

type ChannelRow = {
  channel_id: string;
  name: string;
  phone_number_id: string;
  display_phone_number: string;
  waba_id: string;
  has_app_secret: boolean;
  has_verify_token: boolean;
  send_rate_per_second: number | null;
  created_at: Date;
};
// Sealed secrets never leave the database through these queries: only whether they are set.
const channelColumns = sql.fragment`channel_id, name, phone_number_id, display_phone_number, waba_id,
  app_secret_sealed IS NOT NULL AS has_app_secret, verify_token_sealed IS NOT NULL AS has_verify_token,
  send_rate_per_second, created_at`;
const toChannel = (row: ChannelRow) => ({
  id: row.channel_id,
  name: row.name,
  phoneNumberId: row.phone_number_id,
  displayPhoneNumber: row.display_phone_number,
  wabaId: row.waba_id,
  hasOwnAppSecret: row.has_app_secret,
  hasVerifyToken: row.has_verify_token,
  sendRatePerSecond: row.send_rate_per_second,
  createdAt: row.created_at.toISOString(),
});

type ChannelState = { organizationId: string; phoneNumberId: string; disconnected: boolean };
const evolveChannel = (state: ChannelState | undefined, event: RecordedEvent): ChannelState | undefined => {
  if (event.type === 'ChannelConnected') {
    const { phoneNumberId } = event.data as { phoneNumberId: string };
    return { organizationId: event.metadata.organizationId, phoneNumberId, disconnected: false };
  }
  if (event.type === 'ChannelDisconnected' && state) return { ...state, disconnected: true };
  return state;
};

/** WhatsApp numbers. Access tokens and app secrets are sealed before they become events. */
export function channelRoutes(deps: IdentityDeps): Route[] {
  const secured = securedRoutes(deps.authenticator);
  return [
    secured({
      permission: 'channels.read',
      method: 'GET',
      path: '/api/v1/channels',
      summary: 'Connected WhatsApp numbers (secrets are never returned)',
      handler: async (_req, me) => {
        const rows = await asTenant(deps.pool, me.organizationId, (tx) =>
          tx.any(sql.unsafe`SELECT ${channelColumns} FROM rm.channels
            WHERE organization_id = ${me.organizationId} AND deleted_at IS NULL ORDER BY created_at, channel_id`),
        );
        return { status: 200, body: { items: (rows as readonly ChannelRow[]).map(toChannel) } };
      },
    }),
    secured({
      permission: 'channels.read',
      method: 'GET',
      path: '/api/v1/channels/:id',
      summary: 'One WhatsApp number',
      handler: async (req, me) => {
        const row = await asTenant(deps.pool, me.organizationId, (tx) =>
          tx.maybeOne(sql.unsafe`SELECT ${channelColumns} FROM rm.channels
            WHERE organization_id = ${me.organizationId} AND channel_id = ${uuidParam(req)}
              AND deleted_at IS NULL`),
        );
        if (!row) throw new AppError('http.not_found', 'No such channel');
        return { status: 200, body: toChannel(row as ChannelRow) };
      },
    }),
    secured({
      permission: 'channels.manage',
      method: 'POST',
      path: '/api/v1/channels',
      body: 'api/createChannel',
      status: 201,
      summary: 'Connect a WhatsApp number',
      handler: async (req, me) => {
        const body = req.json<{
          name: string;
          phoneNumberId: string;
          displayPhoneNumber: string;
          wabaId: string;
          accessToken: string;
          appSecret?: string;
          verifyToken?: string;
          sendRatePerSecond?: number;
        }>();
        // Before anything is claimed: a number goes to an organization whose token controls it.
        await deps.verifyPhoneNumber(body.phoneNumberId, body.accessToken);
        const channelId = randomUUID();
        const context = commandContext(me);
        await claimUnique(deps.store, 'phone_number_id', body.phoneNumberId, channelId, context);
        // Sealed with the channel id as context: a ciphertext copied onto another channel will not open.
        const seal = (secret: string | undefined) =>
          secret === undefined ? null : deps.secretBox.seal(secret, channelId);
        const data = {
          channelId,
          name: body.name,
          phoneNumberId: body.phoneNumberId,
          displayPhoneNumber: body.displayPhoneNumber,
          wabaId: body.wabaId,
          accessTokenSealed: await deps.secretBox.seal(body.accessToken, channelId),
          appSecretSealed: await seal(body.appSecret),
          verifyTokenSealed: await seal(body.verifyToken),
          ...(body.sendRatePerSecond === undefined ? {} : { sendRatePerSecond: body.sendRatePerSecond }),
        };
        const position = await createEntity(
          deps,
          `channel-${channelId}`,
          { type: 'ChannelConnected', data },
          context,
        );
        return {
          status: 201,
          body: {
            id: channelId,
            name: body.name,
            phoneNumberId: body.phoneNumberId,
            displayPhoneNumber: body.displayPhoneNumber,
            wabaId: body.wabaId,
            hasOwnAppSecret: body.appSecret !== undefined,
            hasVerifyToken: body.verifyToken !== undefined,
            sendRatePerSecond: body.sendRatePerSecond ?? null,
            position: String(position),
          },
        };
      },
    }),
    secured({
      permission: 'channels.manage',
      method: 'PATCH',
      path: '/api/v1/channels/:id',
      body: 'api/updateChannel',
      summary: "Rename a number or set its send rate (Meta raises some numbers' throughput)",
      handler: async (req, me) => {
        const channelId = uuidParam(req);
        const changes = req.json<{ name?: string; sendRatePerSecond?: number | null }>();
        const position = await changeEntity(
          deps,
          `channel-${channelId}`,
          evolveChannel,
          (state) => {
            if (!state || state.disconnected || state.organizationId !== me.organizationId) {
              throw new AppError('http.not_found', 'No such channel');
            }
            return { type: 'ChannelUpdated', data: changes };
          },
          commandContext(me),
        );
        return { status: 200, body: { id: channelId, position: String(position) } };
      },
    }),
    secured({
      permission: 'channels.manage',
      method: 'DELETE',
      path: '/api/v1/channels/:id',
      status: 204,
      summary: 'Disconnect a WhatsApp number',
      handler: async (req, me) => {
        const channelId = uuidParam(req);
        const context = commandContext(me);
        let phoneNumberId = '';
        await changeEntity(
          deps,
          `channel-${channelId}`,
          evolveChannel,
          (state) => {
            if (!state || state.disconnected || state.organizationId !== me.organizationId) {
              throw new AppError('http.not_found', 'No such channel');
            }
            phoneNumberId = state.phoneNumberId;
            return { type: 'ChannelDisconnected', data: {} };
          },
          context,
        );
        // The number can be connected again, by this organization or another.
        await releaseUnique(deps.store, 'phone_number_id', phoneNumberId, channelId, context);
        return { status: 204 };
      },
    }),
  ];
}
