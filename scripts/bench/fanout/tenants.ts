/**
 * bench:fanout's tenants, made over HTTP as a customer would: organizations signed up, each with one
 * WhatsApp number, org admins (who see the whole inbox: conversations.read_unassigned) and agents
 * in queues (who see their own and their queues' conversations), every user logged in.
 */
import { conversationIdFor } from '../../../src/conversation/conversationActor.ts';
import type { ConversationPlan } from './protocol.ts';

export type FanoutUser = { id: string; token: string; role: 'org_admin' | 'agent'; queueIds: string[] };

export type FanoutTenant = {
  index: number;
  organizationId: string;
  channelId: string;
  phoneNumberId: string;
  adminToken: string;
  admins: FanoutUser[];
  agents: FanoutUser[];
  queues: { id: string; agentIds: string[] }[];
};

/** A customer of one organization: one conversation, with the queue and agent it is assigned to. */
export type FanoutConversation = ConversationPlan & { waId: string; name: string; phoneNumberId: string };

const password = 'correct horse battery staple';

async function call(
  base: string,
  method: string,
  path: string,
  body: unknown,
  token?: string,
): Promise<Record<string, unknown>> {
  const response = await fetch(base + path, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const json = (await response.json()) as Record<string, unknown>;
  if (response.status >= 300)
    throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

export async function createFanoutTenants(
  base: string,
  shape: { organizations: number; admins: number; agents: number; queues: number },
): Promise<FanoutTenant[]> {
  const tenants: FanoutTenant[] = [];
  for (let index = 0; index < shape.organizations; index += 1) {
    const domain = `fanout-${index}.example.com`;
    const signup = await call(base, 'POST', '/api/v1/auth/signup', {
      organizationName: `Fanout Org ${index}`,
      name: 'Owner',
      email: `owner@${domain}`,
      password,
    });
    const adminToken = signup.accessToken as string;
    const phoneNumberId = String(106_540_352_250_000 + index);
    const channel = await call(
      base,
      'POST',
      '/api/v1/channels',
      {
        name: `Line ${index}`,
        phoneNumberId,
        displayPhoneNumber: '+1 555 0100',
        wabaId: '102290129340398',
        accessToken: 'EAAG-bench',
      },
      adminToken,
    );
    const owner = signup.user as { id: string };
    const users = async (role: 'org_admin' | 'agent', count: number) => {
      const made: FanoutUser[] = [];
      for (let n = 0; n < count; n += 1) {
        const email = `${role}-${n}@${domain}`;
        const created = await call(
          base,
          'POST',
          '/api/v1/users',
          { email, name: `${role} ${n}`, password, role },
          adminToken,
        );
        const login = await call(base, 'POST', '/api/v1/auth/login', { email, password });
        made.push({ id: created.id as string, token: login.accessToken as string, role, queueIds: [] });
      }
      return made;
    };
    const admins = [
      { id: owner.id, token: adminToken, role: 'org_admin' as const, queueIds: [] },
      ...(await users('org_admin', shape.admins - 1)),
    ];
    const agents = await users('agent', shape.agents);
    const queues: FanoutTenant['queues'] = [];
    for (let q = 0; q < shape.queues; q += 1) {
      const members = agents.filter((_, n) => n % shape.queues === q);
      const agentIds = members.map((agent) => agent.id);
      const queue = await call(base, 'POST', '/api/v1/queues', { name: `Queue ${q}`, agentIds }, adminToken);
      for (const member of members) member.queueIds.push(queue.id as string);
      queues.push({ id: queue.id as string, agentIds });
    }
    tenants.push({
      index,
      organizationId: (signup.organization as { id: string }).id,
      channelId: channel.id as string,
      phoneNumberId,
      adminToken,
      admins,
      agents,
      queues,
    });
  }
  return tenants;
}

/**
 * `perOrganization` conversations per tenant, listed round-robin over the tenants (conversation j
 * belongs to tenant j mod n). Conversation k of a tenant goes to queue k mod queues and to one of
 * that queue's agents.
 */
export function planConversations(tenants: FanoutTenant[], perOrganization: number): FanoutConversation[] {
  const conversations: FanoutConversation[] = [];
  for (let k = 0; k < perOrganization; k += 1) {
    for (const tenant of tenants) {
      const waId = `55219${String(tenant.index * 100_000 + k).padStart(8, '0')}`;
      const queue = tenant.queues[k % tenant.queues.length];
      const agentIds = queue?.agentIds ?? [];
      conversations.push({
        id: conversationIdFor(tenant.organizationId, tenant.channelId, waId),
        organization: tenant.index,
        queueId: queue?.id ?? null,
        assigneeId: agentIds[Math.floor(k / tenant.queues.length) % Math.max(1, agentIds.length)] ?? null,
        waId,
        name: `Cliente ${waId.slice(-6)}`,
        phoneNumberId: tenant.phoneNumberId,
      });
    }
  }
  return conversations;
}

/** Assigns every conversation to its queue and agent (POST /conversations/{id}/assign), a few at a time. */
export async function assignConversations(
  base: string,
  tenants: FanoutTenant[],
  conversations: FanoutConversation[],
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < conversations.length) {
      const conversation = conversations[next++] as FanoutConversation;
      const tenant = tenants[conversation.organization] as FanoutTenant;
      await call(
        base,
        'POST',
        `/api/v1/conversations/${conversation.id}/assign`,
        { assigneeId: conversation.assigneeId, queueId: conversation.queueId },
        tenant.adminToken,
      );
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}
