/**
 * The bench's tenants, made over HTTP as a customer would (test/support/whatsapp.ts does the same):
 * organizations signed up, each with one WhatsApp number, and the customers who write to them.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';

/** One customer of one business number: one conversation. */
export type Conversation = { phoneNumberId: string; waId: string; name: string };

const wabaId = '102290129340398';

async function post(base: string, path: string, body: unknown, token?: string) {
  const response = await fetch(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const json = (await response.json()) as Record<string, unknown>;
  if (response.status !== 201) throw new Error(`POST ${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

/** `organizations` signed up over HTTP, each with one WhatsApp number; returns the numbers' ids. */
export async function createTenants(base: string, organizations: number): Promise<string[]> {
  const phoneNumberIds: string[] = [];
  for (let org = 0; org < organizations; org += 1) {
    const signup = await post(base, '/api/v1/auth/signup', {
      organizationName: `Bench Org ${org}`,
      name: `Bench Admin ${org}`,
      email: `admin-${org}@bench-ingest.example.com`,
      password: 'correct horse battery staple',
    });
    const phoneNumberId = String(106_540_352_240_000 + org);
    await post(
      base,
      '/api/v1/channels',
      {
        name: `Line ${org}`,
        phoneNumberId,
        displayPhoneNumber: '+1 555 0100',
        wabaId,
        accessToken: 'EAAG-bench',
      },
      signup.accessToken as string,
    );
    phoneNumberIds.push(phoneNumberId);
  }
  return phoneNumberIds;
}

/**
 * Customers `first` to `first + count - 1`, one conversation each, ordered so that consecutive ones
 * write to different numbers (a round-robin over them spreads the load over every tenant). A
 * customer's number fixes who they are: disjoint ranges are customers who never met.
 */
export function customers(phoneNumberIds: string[], first: number, count: number): Conversation[] {
  return Array.from({ length: count }, (_, offset) => {
    const index = first + offset;
    return {
      phoneNumberId: phoneNumberIds[index % phoneNumberIds.length] as string,
      waId: `55119${String(index).padStart(8, '0')}`,
      name: `Cliente ${index}`,
    };
  });
}

/**
 * Waits until the identity projection has made every channel findable by the webhook route: a
 * delivery for a number it does not know yet is answered 200 and dropped.
 */
export async function waitForChannels(admin: pg.Client, count: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const { rows } = await admin.query('SELECT count(*)::int AS n FROM rm.channels WHERE deleted_at IS NULL');
    if (rows[0].n >= count) return;
    await sleep(100);
  }
  throw new Error(`the channels did not reach rm.channels within 30 s`);
}
