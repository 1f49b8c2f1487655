import type { OpenApiDocument } from './openApi.ts';

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

const refName = (schema: unknown): string | undefined => {
  const reference = (schema as { $ref?: unknown } | undefined)?.$ref;
  return typeof reference === 'string' ? reference.replace('#/components/schemas/', '') : undefined;
};

const schemaLink = (schema: unknown): string => {
  const name = refName(schema);
  return name === undefined ? '' : `<a href="#schema-${escapeHtml(name)}">${escapeHtml(name)}</a>`;
};

/**
 * A page to browse the API, rendered on the server from the OpenAPI document: no script and no CDN,
 * because the machines running PyTake are often offline.
 */
export function renderDocsPage(document: OpenApiDocument): string {
  const rows: string[] = [];
  for (const [path, operations] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const body = Object.values(operation.requestBody?.content ?? {})[0]?.schema;
      const responses = Object.entries(operation.responses)
        .map(([status, response]) => {
          const schema = Object.values(response.content ?? {})[0]?.schema;
          return `${escapeHtml(status)} ${schemaLink(schema)}`;
        })
        .join('<br>');
      rows.push(
        `<tr><td class="m ${escapeHtml(method)}">${escapeHtml(method.toUpperCase())}</td>` +
          `<td><code>${escapeHtml(path)}</code></td><td>${escapeHtml(operation.summary ?? '')}</td>` +
          `<td>${schemaLink(body)}</td><td>${responses}</td></tr>`,
      );
    }
  }
  const schemas = Object.entries(document.components.schemas).map(
    ([name, schema]) =>
      `<details id="schema-${escapeHtml(name)}"><summary>${escapeHtml(name)}</summary>` +
      `<pre>${escapeHtml(JSON.stringify(schema, null, 2))}</pre></details>`,
  );
  const title = escapeHtml(document.info.title);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} API</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #ddd; vertical-align: top; }
.m { font-weight: 600; font-family: ui-monospace, monospace; }
.get { color: #0a6; } .post { color: #06c; } .put, .patch { color: #a60; } .delete { color: #c22; }
pre { background: #f6f6f6; padding: .75rem; overflow: auto; }
summary { cursor: pointer; font-family: ui-monospace, monospace; }
</style>
</head>
<body>
<h1>${title} <small>${escapeHtml(document.info.version)}</small></h1>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI ${escapeHtml(document.openapi)}).
Errors are <code>application/problem+json</code> (RFC 9457).</p>
<h2>Operations</h2>
<table>
<thead><tr><th>Method</th><th>Path</th><th>Summary</th><th>Request body</th><th>Responses</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>
<h2>Schemas</h2>
${schemas.join('\n')}
</body>
</html>
`;
}
