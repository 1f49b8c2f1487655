import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { safeRegex } from '../../src/flow/safeRegex.ts';

describe('safeRegex', () => {
  const matches = (pattern: string, subject: string) => safeRegex(pattern).test(subject);

  function refuses(pattern: string, problem: string, offset: number) {
    assert.throws(() => safeRegex(pattern), {
      name: 'RegexError',
      message: `${problem} at ${offset}`,
      offset,
    });
  }

  it('agrees with RegExp on the syntax it supports', () => {
    const patterns = [
      '',
      'abc',
      '^abc$',
      'a.c',
      '^a*$',
      'ab+c',
      'colou?r',
      '^a{3}$',
      '^a{2,}$',
      '^a{1,2}$',
      '^(?:ab|cd)+$',
      '^(a|b|)c',
      '[abc]',
      '[^abc]',
      '^[a-f0-9]+$',
      '[A-Z]',
      '[-a]',
      '[a-]',
      String.raw`[\d-]`,
      String.raw`^\d+$`,
      String.raw`\D`,
      String.raw`^\w+$`,
      String.raw`\W`,
      String.raw`\s`,
      String.raw`^\S+$`,
      String.raw`\bsim\b`,
      String.raw`\Bim`,
      String.raw`a\.b`,
      String.raw`\(\)\[\]\{\}\*\+\?\|\^\$\\\/`,
      String.raw`a\nb`,
      String.raw`[\]x]`,
      'a+?b',
      'a*?$',
      'x??y',
      'não',
      '^[à-ü]+$',
      '😀+',
      '^.$',
      '[]',
      '[^]',
    ];
    const subjects = [
      '',
      'abc',
      'ABC',
      'abbc',
      'ac',
      'color',
      'colour',
      'aaa',
      'aa',
      'a',
      'abcd',
      'cdab',
      'c',
      'xyz',
      'Sim, claro',
      'assim',
      'a.b',
      'axb',
      'a\nb',
      '()[]{}*+?|^$\\/',
      '12345',
      'abc123',
      ' ',
      'NÃO',
      'àéü',
      '😀😀',
      '😀',
      '-',
      ']',
      'xy',
    ];
    for (const pattern of patterns) {
      const native = new RegExp(pattern, 'iu');
      for (const subject of subjects) {
        assert.equal(
          matches(pattern, subject),
          native.test(subject),
          `/${pattern}/ on ${JSON.stringify(subject)}`,
        );
      }
    }
  });

  it('ignores case in literals and ranges', () => {
    assert.ok(matches('^[a-z]+$', 'ABC'));
    assert.ok(matches('^[A-Z]+$', 'abc'));
    assert.ok(matches('^josé$', 'JOSÉ'));
    assert.ok(!matches('^[a-z]+$', 'ábc'));
  });

  it('refuses what it does not support, with the offset in the pattern', () => {
    refuses(String.raw`(a)\1`, 'backreferences are not supported', 3);
    refuses('(?=a)', 'lookarounds and named groups are not supported', 0);
    refuses('x(?!a)', 'lookarounds and named groups are not supported', 1);
    refuses('(?<=a)b', 'lookarounds and named groups are not supported', 0);
    refuses('(?<name>a)', 'lookarounds and named groups are not supported', 0);
    refuses(String.raw`\p{L}`, "unsupported escape '\\p'", 0);
    refuses(String.raw`[\b]`, "unsupported escape '\\b'", 1);
    refuses(String.raw`\x41`, "unsupported escape '\\x'", 0);
  });

  it('refuses malformed patterns', () => {
    refuses('(', "missing ')'", 0);
    refuses('a(b', "missing ')'", 1);
    refuses('a)', "unmatched ')'", 1);
    refuses('[a', "missing ']'", 0);
    refuses('*a', 'nothing to repeat', 0);
    refuses('a**', 'nothing to repeat', 2);
    refuses('^*', 'nothing to repeat', 0);
    refuses('(|+)', 'nothing to repeat', 2);
    refuses('a{', 'incomplete quantifier', 1);
    refuses('a{,2}', 'incomplete quantifier', 1);
    refuses('a{2,1}', 'numbers out of order in quantifier', 1);
    refuses('a}', "unescaped '}'", 1);
    refuses(']', "unescaped ']'", 0);
    refuses('[z-a]', 'range out of order', 2);
    refuses(String.raw`[a-\d]`, 'invalid range', 2);
    refuses('a\\', '\\ at end of pattern', 1);
    refuses('😀(', "missing ')'", 1);
  });

  it('refuses patterns too large to run in bounded time', () => {
    refuses('a{1001}', 'repetition above 1000', 2);
    refuses('(?:abc){200}', 'regex too large once repetitions are expanded', 0);
    refuses('((a{10}){10}){10}', 'regex too large once repetitions are expanded', 0);
    refuses('a'.repeat(201), 'regex longer than 200 characters', 200);
    assert.ok(matches('a'.repeat(200), 'a'.repeat(200)));
  });

  it('repeats an empty group without work', () => {
    assert.ok(matches('^((?:){1000}){1000}$', ''));
    assert.ok(matches('^(){5}a', 'a'));
  });
});
