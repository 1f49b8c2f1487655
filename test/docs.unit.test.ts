import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { variables } from '../src/config/config.ts';
import { errorCatalogue } from '../src/errors/catalogue.ts';

describe('documentation stays true', () => {
  it('README documents every environment variable the server reads', () => {
    const readme = readFileSync('README.md', 'utf8');
    for (const name of Object.keys(variables)) {
      assert.match(
        readme,
        new RegExp(`\\| \`${name}\` \\|`),
        `${name} is missing from README's configuration table`,
      );
    }
  });

  it('docs/errors.md documents every error code with its status', () => {
    const doc = readFileSync('docs/errors.md', 'utf8');
    for (const [code, { status }] of Object.entries(errorCatalogue)) {
      assert.match(
        doc,
        new RegExp(`\\| \`${code.replace('.', '\\.')}\` \\| ${status} \\|`),
        `${code} is not documented`,
      );
    }
  });
});
