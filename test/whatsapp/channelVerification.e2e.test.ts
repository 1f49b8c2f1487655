import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.ts';
import { type FakeGraphApi, startFakeGraphApi } from '../support/fakeGraphApi.ts';

describe('connecting a number the business must prove it controls', { timeout: 60_000 }, () => {
  let graph: FakeGraphApi;
  let t: TestApp;
  before(async () => {
    graph = await startFakeGraphApi();
    t = await startTestApp('channel_verification', {
      CHANNEL_VERIFICATION: 'graph',
      META_GRAPH_URL: graph.url,
    });
  });
  after(async () => {
    await t?.close();
    await graph?.close();
  });

  it('refuses a token the Graph API will not show the number to, and leaves the number free for its owner', async () => {
    const signup = async (label: string) =>
      (
        await t.request('POST', '/api/v1/auth/signup', {
          body: {
            organizationName: label,
            name: label,
            email: `${label}-${randomUUID().slice(0, 8)}@example.com`,
            password: 'correct horse battery staple',
          },
        })
      ).body.accessToken as string;
    const connect = (token: string, accessToken: string) =>
      t.request('POST', '/api/v1/channels', {
        token,
        body: {
          name: 'line',
          phoneNumberId: '555000111222',
          displayPhoneNumber: '+1 555',
          wabaId: '1',
          accessToken,
        },
      });
    graph.expectToken('555000111222', 'EAAG-the-owners-token');

    const squatter = await connect(await signup('squatter'), 'EAAG-some-other-token');
    assert.equal(squatter.status, 422);
    assert.equal(squatter.body.code, 'identity.channel_not_verified');
    assert.equal(
      JSON.stringify(squatter.body).includes('EAAG-some-other-token'),
      false,
      'the token is never echoed',
    );

    const owner = await connect(await signup('owner'), 'EAAG-the-owners-token');
    assert.equal(owner.status, 201, JSON.stringify(owner.body));
  });
});
