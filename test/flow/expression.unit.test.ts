import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type Expression,
  ExpressionError,
  evaluateExpression,
  expressionVariables,
  parseExpression,
  type Value,
} from '../../src/flow/expression.ts';

const scope: Record<string, Value> = {
  name: 'Ana',
  'contact.name': 'José',
  'contact.city': 'São Paulo',
  'api.status': 200,
  age: 42,
  ageText: ' 42 ',
  vip: true,
  blocked: false,
  zero: 0,
  empty: '',
  falseText: 'false',
  nothing: null,
};

const lookup = (name: string): Value | undefined => (Object.hasOwn(scope, name) ? scope[name] : undefined);
const evaluate = (source: string): Value => evaluateExpression(parseExpression(source), lookup);
const holds = (source: string) => assert.equal(evaluate(source), true, source);
const fails = (source: string) => assert.equal(evaluate(source), false, source);

function rejects(source: string, problem: string, offset: number) {
  assert.throws(
    () => parseExpression(source),
    (error: unknown) => {
      assert.ok(error instanceof ExpressionError, `${source}: ${String(error)}`);
      assert.equal(error.message, `${problem} at ${offset}`, source);
      assert.equal(error.offset, offset, source);
      return true;
    },
  );
}

const variable = (name: string): Expression => ({ kind: 'variable', name });
const literal = (value: Value): Expression => ({ kind: 'literal', value });

describe('parseExpression', () => {
  it('binds or < and < not < comparison', () => {
    assert.deepEqual(parseExpression("contact.name == 'Ana' and not vip or age >= 18"), {
      kind: 'logical',
      operator: 'or',
      operands: [
        {
          kind: 'logical',
          operator: 'and',
          operands: [
            { kind: 'compare', operator: '==', left: variable('contact.name'), right: literal('Ana') },
            { kind: 'not', operand: variable('vip') },
          ],
        },
        { kind: 'compare', operator: '>=', left: variable('age'), right: literal(18) },
      ],
    });
  });

  it('applies not to the whole comparison after it', () => {
    assert.deepEqual(parseExpression('not a == b'), {
      kind: 'not',
      operand: { kind: 'compare', operator: '==', left: variable('a'), right: variable('b') },
    });
  });

  it('flattens chains of the same operator', () => {
    assert.deepEqual(parseExpression('a or b or c'), {
      kind: 'logical',
      operator: 'or',
      operands: [variable('a'), variable('b'), variable('c')],
    });
  });

  it('lets parentheses override precedence', () => {
    assert.deepEqual(parseExpression('a and (b or c)'), {
      kind: 'logical',
      operator: 'and',
      operands: [
        variable('a'),
        { kind: 'logical', operator: 'or', operands: [variable('b'), variable('c')] },
      ],
    });
    assert.deepEqual(parseExpression('((a))'), variable('a'));
  });

  it('reads keywords in any case', () => {
    assert.deepEqual(parseExpression('NOT a AND b Or c'), parseExpression('not a and b or c'));
    assert.deepEqual(
      parseExpression("a CONTAINS 'x' and b Matches 'y'"),
      parseExpression("a contains 'x' and b matches 'y'"),
    );
    assert.deepEqual(parseExpression('TRUE'), literal(true));
    assert.deepEqual(parseExpression('False'), literal(false));
  });

  it('keeps names as written, dotted ones whole', () => {
    assert.deepEqual(parseExpression('Contact.Name_2'), variable('Contact.Name_2'));
    assert.deepEqual(parseExpression('_a.b.c'), variable('_a.b.c'));
    assert.deepEqual(parseExpression('not.x'), variable('not.x'));
  });

  it('reads numbers, with a minus on literals', () => {
    assert.deepEqual(parseExpression('3.14'), literal(3.14));
    assert.deepEqual(parseExpression('-5'), literal(-5));
    assert.deepEqual(parseExpression('007'), literal(7));
  });

  it("reads strings in single quotes with \\' and \\\\ escapes, other backslashes as written", () => {
    assert.deepEqual(parseExpression(String.raw`'it\'s'`), literal("it's"));
    assert.deepEqual(parseExpression(String.raw`'back\\slash'`), literal('back\\slash'));
    assert.deepEqual(parseExpression(String.raw`'^\d+\.$'`), literal('^\\d+\\.$'));
    assert.deepEqual(parseExpression("''"), literal(''));
    assert.deepEqual(parseExpression("'and or not == ('"), literal('and or not == ('));
  });

  it('keeps the pattern of matches as text', () => {
    assert.deepEqual(parseExpression(String.raw`code matches '^\d{3}$'`), {
      kind: 'matches',
      subject: variable('code'),
      pattern: '^\\d{3}$',
    });
  });

  it('accepts the limits themselves', () => {
    parseExpression(`${'('.repeat(50)}a${')'.repeat(50)}`);
    parseExpression(`${'not '.repeat(50)}a`);
    parseExpression(`a${' '.repeat(1_999)}`);
  });
});

describe('parse errors', () => {
  it('an empty expression', () => {
    rejects('', 'empty expression', 0);
    rejects('   ', 'empty expression', 0);
  });

  it('an unexpected token', () => {
    rejects('== a', "unexpected '=='", 0);
    rejects('and a', "unexpected 'and'", 0);
    rejects('a == )', "unexpected ')'", 5);
    rejects('()', "unexpected ')'", 1);
    rejects('a == not b', "unexpected 'not'", 5);
    rejects('a @ b', "unexpected '@'", 2);
    rejects('a == 😀', "unexpected '😀'", 5);
  });

  it('an expression that ends too early', () => {
    rejects('a ==', 'unexpected end of expression', 4);
    rejects('a and', 'unexpected end of expression', 5);
    rejects('not', 'unexpected end of expression', 3);
  });

  it('an unterminated string', () => {
    rejects("'abc", 'unterminated string', 0);
    rejects("name == 'it\\'s", 'unterminated string', 8);
  });

  it('a missing parenthesis', () => {
    rejects('(a == b', "expected ')'", 7);
    rejects('(a == b c)', "expected ')'", 8);
    rejects("(name == 'Ana' or (b)", "expected ')'", 21);
  });

  it('trailing garbage', () => {
    rejects('a b', "unexpected 'b'", 2);
    rejects('a == b c', "unexpected 'c'", 7);
    rejects('(a) )', "unexpected ')'", 4);
    rejects("a == 'x' 'y'", "unexpected ''y''", 9);
  });

  it('chained comparisons', () => {
    rejects('a == b == c', "unexpected '=='", 7);
    rejects('1 < a < 3', "unexpected '<'", 6);
  });

  it('function calls', () => {
    rejects('f(x)', 'function calls are not supported', 1);
    rejects('lower (name) == x', 'function calls are not supported', 6);
    rejects('contact.name()', 'function calls are not supported', 12);
  });

  it('indexing and property access beyond dotted names', () => {
    rejects('a[0]', 'indexing is not supported', 1);
    rejects("a['b']", 'indexing is not supported', 1);
    rejects('a.', "expected a name after '.'", 2);
    rejects('a.1', "expected a name after '.'", 2);
    rejects('a..b', "expected a name after '.'", 2);
  });

  it('arithmetic and other operators', () => {
    rejects('a + 1', 'arithmetic is not supported', 2);
    rejects('a - 1', 'arithmetic is not supported', 2);
    rejects('-a', 'arithmetic is not supported', 0);
    rejects('a = 1', "'=' is not an operator (compare with '==')", 2);
    rejects('a && b', "unexpected '&'", 2);
    rejects('!a', "unexpected '!'", 0);
  });

  it('double-quoted strings', () => {
    rejects('a == "b"', 'strings take single quotes', 5);
  });

  it('malformed numbers', () => {
    rejects('1abc', 'malformed number', 0);
    rejects('a == 1.2.3', 'malformed number', 5);
    rejects('a == 1.', 'malformed number', 5);
  });

  it('matches without a string literal', () => {
    rejects('a matches b', "'matches' takes a string literal", 10);
    rejects('a matches', "'matches' takes a string literal", 9);
  });

  it('an invalid regex, at the offset of its literal', () => {
    rejects("a matches '('", "invalid regex (missing ')' at 0 of the pattern)", 10);
    rejects("a == 1 or b matches 'x**'", 'invalid regex (nothing to repeat at 2 of the pattern)', 20);
    rejects(
      String.raw`a matches '(a)\1'`,
      'invalid regex (backreferences are not supported at 3 of the pattern)',
      10,
    );
  });

  it('regexes too heavy together', () => {
    parseExpression("a matches '.{0,200}' or b matches 'x{1,49}'");
    rejects(
      "a matches '.{0,200}' or b matches '.{0,200}'",
      'regexes of one expression too large together',
      34,
    );
  });

  it('nesting deeper than 50', () => {
    rejects(`${'('.repeat(51)}a${')'.repeat(51)}`, 'nested deeper than 50', 50);
    rejects(`${'not '.repeat(51)}a`, 'nested deeper than 50', 200);
    rejects(`${'(not '.repeat(26)}a${')'.repeat(26)}`, 'nested deeper than 50', 125);
  });

  it('a source longer than 2,000 characters', () => {
    rejects(`a${' or a'.repeat(400)}`, 'expression longer than 2000 characters', 2000);
  });

  it('throws ExpressionError, named so', () => {
    assert.throws(() => parseExpression('('), { name: 'ExpressionError' });
  });
});

describe('evaluateExpression', () => {
  it('gives a lone operand its value; an unknown variable is null', () => {
    assert.equal(evaluate('name'), 'Ana');
    assert.equal(evaluate('contact.name'), 'José');
    assert.equal(evaluate('api.status'), 200);
    assert.equal(evaluate('unknown'), null);
    assert.equal(evaluate('nothing'), null);
    assert.equal(evaluate("'hi'"), 'hi');
    assert.equal(evaluate('-2.5'), -2.5);
    assert.equal(evaluate('true'), true);
    assert.equal(evaluate('(age)'), 42);
  });

  it('== and != compare numbers and numeric strings as numbers', () => {
    holds('age == 42');
    holds('ageText == 42');
    holds("'4.50' == 4.5");
    holds("'042' == '42'");
    holds("' -3 ' == -3");
    holds("'.5' == 0.5");
    holds('api.status == 200');
    holds('age != 41');
    fails('age != 42');
    fails("'1e3' == 1000");
    fails("'0x10' == 16");
    fails("'' == 0");
    fails("' ' == 0");
  });

  it('== and != compare anything else as strings, case-sensitively', () => {
    holds("name == 'Ana'");
    fails("name == 'ana'");
    holds("name != 'ana'");
    holds("vip == 'true'");
    holds('vip == true');
    holds('blocked == false');
    fails('vip == 1');
    fails("'a ' == 'a'");
    holds("contact.name == 'José'");
  });

  it('null equals null and the empty string, nothing else', () => {
    holds('unknown == nothing');
    holds("unknown == ''");
    holds('unknown == empty');
    fails('unknown == 0');
    fails('unknown == false');
    fails("unknown == 'null'");
    holds("unknown != 'x'");
    fails("unknown != ''");
  });

  it('orders numbers and numeric strings as numbers', () => {
    holds('age > 18');
    holds('ageText >= 42');
    holds('age <= 42');
    fails('age < 42');
    holds("'9' < '10'");
    holds('-1 < 0');
  });

  it('orders other strings by code unit, no locale', () => {
    holds("'apple' < 'banana'");
    holds("'Zebra' < 'apple'");
    holds("'a' < 'á'");
    holds("'10' < 'x'");
    holds("name >= 'Ana'");
  });

  it('never orders null', () => {
    for (const operator of ['<', '<=', '>', '>=']) {
      fails(`unknown ${operator} 1`);
      fails(`1 ${operator} unknown`);
      fails(`unknown ${operator} nothing`);
      fails(`unknown ${operator} ''`);
    }
  });

  it('contains ignores case and accents', () => {
    holds("contact.city contains 'sao'");
    holds("contact.city contains 'PAULO'");
    holds("'cafe' contains 'CAFÉ'");
    holds("'Ação' contains 'acao'");
    fails("contact.city contains 'rio'");
    holds('12345 contains 234');
    holds("vip contains 'ru'");
  });

  it('contains reads null as the empty string', () => {
    holds("name contains ''");
    holds('name contains unknown');
    fails("unknown contains 'a'");
    holds('unknown contains unknown');
  });

  it('matches tests a case-insensitive regex', () => {
    holds("'SIM' matches '^(sim|s|yes|y)$'");
    holds("'Não' matches '^n[aã]o$'");
    fails("'não!' matches '^n[aã]o$'");
    holds(String.raw`'01310-100' matches '^\d{5}-?\d{3}$'`);
    holds(String.raw`age matches '^\d+$'`);
    holds("unknown matches '^$'");
    holds("vip matches 'TRUE'");
    holds(String.raw`'it\'s' matches '^it\'s$'`);
    holds(String.raw`'a\b' matches '^a\\\\b$'`);
  });

  it('matches finishes quickly on classic catastrophic patterns', () => {
    for (const [pattern, subject] of [
      ['(a+)+$', `${'a'.repeat(36)}!`],
      ['(a|aa)*$', `${'a'.repeat(999)}!`],
      ['(a*)*b', 'a'.repeat(1_000)],
      [String.raw`\d*\d*\d*\d*\d*\d*x`, '1'.repeat(1_000)],
      ['(.*a){12}', 'a'.repeat(1_000)],
    ]) {
      const expression = parseExpression(`subject matches '${pattern}'`);
      const started = performance.now();
      const result = evaluateExpression(expression, () => subject);
      const elapsed = performance.now() - started;
      assert.equal(typeof result, 'boolean');
      assert.ok(elapsed < 500, `${pattern} took ${elapsed.toFixed(0)} ms`);
    }
  });

  it('matches sees only the first 1,000 characters of its subject', () => {
    const long = `${'a'.repeat(1_000)}b`;
    assert.equal(
      evaluateExpression(parseExpression("s matches 'b'"), () => long),
      false,
    );
    assert.equal(
      evaluateExpression(parseExpression("s matches 'a$'"), () => long),
      true,
    );
    assert.equal(
      evaluateExpression(parseExpression("s contains 'b'"), () => long),
      true,
    );
  });

  it('and, or and not follow truthiness and return booleans', () => {
    for (const falsy of [
      'nothing',
      'unknown',
      'blocked',
      'zero',
      'empty',
      'falseText',
      "'false'",
      '0',
      "''",
    ]) {
      holds(`not ${falsy}`);
      fails(`${falsy} and true`);
      fails(`${falsy} or false`);
    }
    for (const truthy of ['name', 'age', 'vip', "'0'", "'no'", "' '", "'False'", '-1', '0.5']) {
      fails(`not ${truthy}`);
      holds(`${truthy} and true`);
      holds(`false or ${truthy}`);
    }
    assert.equal(evaluate('name and age'), true);
    assert.equal(evaluate("unknown or ''"), false);
  });

  it('evaluates by precedence', () => {
    holds('true or false and false');
    fails('(true or false) and false');
    fails('not false and false');
    holds('not (false and false)');
    holds("not name == 'Bia'");
    holds("NOT vip OR name CONTAINS 'an'");
    holds("age > 40 and contact.city contains 'paulo' and not blocked or unknown");
  });

  it('calls lookup with dotted names as written', () => {
    const asked: string[] = [];
    evaluateExpression(parseExpression("contact.name == 'x' or API.Status > 1"), (name) => {
      asked.push(name);
      return undefined;
    });
    assert.deepEqual(asked, ['contact.name', 'API.Status']);
  });
});

describe('expressionVariables', () => {
  it('lists dotted names once each, in order of appearance', () => {
    const expression = parseExpression(
      "b == a and a contains c.d or not (e matches 'x') or 'lit' == 1 or (b > f.g.h) or api.status",
    );
    assert.deepEqual(expressionVariables(expression), ['b', 'a', 'c.d', 'e', 'f.g.h', 'api.status']);
  });

  it('finds none in literals', () => {
    assert.deepEqual(expressionVariables(parseExpression("'name' == 1 or true")), []);
  });
});
