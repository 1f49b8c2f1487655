import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderDocsPage } from '../../src/http/docsPage.ts';
import { buildOpenApiDocument } from '../../src/http/openApi.ts';

test('lists every operation and escapes what it prints', () => {
  const document = buildOpenApiDocument(
    [
      {
        access: 'public',
        method: 'POST',
        path: '/api/v1/things/:id',
        summary: '<img src=x onerror=alert(1)>',
        body: 'things/thing',
        handler: async () => ({ status: 200 }),
      },
    ],
    [
      { $id: 'https://pytake.dev/schemas/things/thing', description: '</pre><script>x</script>' },
      { $id: 'https://pytake.dev/schemas/http/problem' },
    ],
    { title: 'PyTake', version: '9.9.9' },
  );
  const html = renderDocsPage(document);
  assert.match(html, /<td class="m post">POST<\/td><td><code>\/api\/v1\/things\/\{id\}<\/code>/);
  assert.match(html, /<a href="#schema-things.thing">things.thing<\/a>/);
  assert.match(html, /id="schema-things.thing"/);
  assert.match(html, /9\.9\.9/);
  assert.doesNotMatch(html, /<img|<script/);
});
