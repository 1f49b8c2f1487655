import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Value } from '../../src/flow/expression.ts';
import { interpolate, templateVariables } from '../../src/flow/interpolate.ts';

const scope: Record<string, Value> = {
  name: 'Ana',
  'contact.name': 'José',
  'api.status': 200,
  price: 1.5,
  zero: 0,
  vip: true,
  blocked: false,
  nothing: null,
  sneaky: '{{name}} $& $1',
};

const lookup = (name: string): Value | undefined => (Object.hasOwn(scope, name) ? scope[name] : undefined);

describe('interpolate', () => {
  it('returns text without {{ as it is, without looking anything up', () => {
    const text = 'Olá! Nothing to see { here } {name}';
    assert.equal(
      interpolate(text, () => assert.fail('no lookup expected')),
      text,
    );
  });

  it('replaces names and dotted names, with or without spaces inside the braces', () => {
    assert.equal(interpolate('Olá {{contact.name}}!', lookup), 'Olá José!');
    assert.equal(interpolate('Olá {{ name }}, {{\tname\n}}.', lookup), 'Olá Ana, Ana.');
    assert.equal(interpolate('{{name}}{{name}}', lookup), 'AnaAna');
    assert.equal(interpolate('status {{ api.status }}', lookup), 'status 200');
  });

  it('renders numbers and booleans as String() does, null and unknown as nothing', () => {
    assert.equal(interpolate('{{price}}|{{zero}}|{{vip}}|{{blocked}}', lookup), '1.5|0|true|false');
    assert.equal(interpolate('[{{nothing}}][{{unknown}}][{{contact.missing}}]', lookup), '[][][]');
  });

  it('leaves braces that hold no name as written', () => {
    for (const text of [
      '{{ not a name }}',
      '{{}}',
      '{{ }}',
      '{{a.}}',
      '{{1abc}}',
      '{{a-b}}',
      '{ {name} }',
      '{{name}',
      '{{name',
      "{{ 'name' }}",
    ]) {
      assert.equal(interpolate(text, lookup), text);
    }
    assert.equal(interpolate('{{{name}}}', lookup), '{Ana}');
    assert.equal(interpolate('{{ not a name }} {{name}}', lookup), '{{ not a name }} Ana');
  });

  it('inserts values as they are: never interpolated again, no replacement patterns', () => {
    assert.equal(interpolate('You said: {{sneaky}}', lookup), 'You said: {{name}} $& $1');
  });

  it('asks for each placeholder by its name as written', () => {
    const asked: string[] = [];
    interpolate('{{ Contact.Name }} {{a_b.c2}}', (name) => {
      asked.push(name);
      return undefined;
    });
    assert.deepEqual(asked, ['Contact.Name', 'a_b.c2']);
  });
});

describe('templateVariables', () => {
  it('lists the names referenced once each, in order of appearance', () => {
    assert.deepEqual(
      templateVariables('{{ name }} {{contact.name}} {{name}} {{api.status}} {{ contact.name }}'),
      ['name', 'contact.name', 'api.status'],
    );
  });

  it('ignores what interpolate leaves as written', () => {
    assert.deepEqual(templateVariables('{{ not a name }} {{}} {{a.}} plain'), []);
    assert.deepEqual(templateVariables('no braces at all'), []);
  });
});
