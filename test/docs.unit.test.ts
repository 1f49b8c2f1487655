import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { variables } from '../src/config/config.ts';
import { errorCatalogue } from '../src/errors/catalogue.ts';
import { chooseUwsBuild } from '../src/http/chooseUwsBuild.ts';

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

  it("README's Runtimes table says what chooseUwsBuild chooses", () => {
    const readme = readFileSync('README.md', 'utf8');
    const rows = [...readme.matchAll(/^\| Node (\d+) \(ABI (\d+)\) \|(.*)\|$/gm)];
    assert.equal(rows.length, 4, 'a row for Node 20, 22, 24 and 25');
    for (const [, major, abi, cells = ''] of rows) {
      const said = cells.split('|').map((cell) => cell.trim());
      // Its columns: glibc 2.28–2.37 (Debian 12 has 2.36), glibc ≥ 2.38 (Debian 13 has 2.41), none.
      for (const [column, glibc] of (['2.36', '2.41', undefined] as const).entries()) {
        const build = chooseUwsBuild({
          node: `${major}.0.0`,
          abi: Number(abi),
          platform: 'linux',
          arch: 'x64',
          glibc,
        });
        const chosen = 'refused' in build ? 'refused' : `works, v${build.uwsVersion.replace(/\.0$/, '')}`;
        assert.ok(
          said[column]?.startsWith(chosen),
          `Node ${major}, glibc ${glibc ?? 'none'}: README says "${said[column]}", chosen: ${chosen}`,
        );
      }
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
