import { assertNever } from '../lang/assertNever.ts';
import { maxWeight, RegexError, regexWeight, safeRegex } from './safeRegex.ts';

/*
 * The language of flow conditions and assignments (docs/flows.md, "Expressions").
 *
 * - An unknown variable is null. null equals null and '' (unknown variables render empty), nothing else.
 * - `==` and `!=` compare as numbers when both sides are numbers or numeric strings (' 4.50' == 4.5),
 *   otherwise as strings, case-sensitively (true == 'true', 'Yes' != 'yes').
 * - `<`, `<=`, `>`, `>=` compare as numbers when both sides are numeric, otherwise by UTF-16 code
 *   units (no locale); any ordering involving null is false.
 * - `contains` ignores case and accents ('São Paulo' contains 'sao'); null reads as '', and every
 *   text contains ''.
 * - `matches` runs a case-insensitive regex on the first 1,000 characters of the left side (null is '').
 * - `and`, `or` and `not` return booleans. null, false, 0, '' and 'false' are false, all else true.
 * - A lone operand (`contact.name`, `'hi'`, `42`) is its value.
 * - String literals take single quotes; `\'` and `\\` are escapes and any other backslash stays as
 *   written, so `matches '^\d+$'` reads like the regex it is.
 */

export type Value = string | number | boolean | null;

export type Expression =
  | { readonly kind: 'literal'; readonly value: Value }
  | { readonly kind: 'variable'; readonly name: string }
  | {
      readonly kind: 'compare';
      readonly operator: '==' | '!=' | '<' | '<=' | '>' | '>=' | 'contains';
      readonly left: Expression;
      readonly right: Expression;
    }
  | { readonly kind: 'matches'; readonly subject: Expression; readonly pattern: string }
  | { readonly kind: 'not'; readonly operand: Expression }
  | { readonly kind: 'logical'; readonly operator: 'and' | 'or'; readonly operands: readonly Expression[] };

/** A source that is not an expression; `offset` is where, in UTF-16 code units. */
export class ExpressionError extends Error {
  override name = 'ExpressionError';
  readonly offset: number;

  constructor(problem: string, offset: number) {
    super(`${problem} at ${offset}`);
    this.offset = offset;
  }
}

// A flow is written by an untrusted author: bound the work and the parser's recursion.
const maxLength = 2_000;
const maxDepth = 50;

export function parseExpression(source: string): Expression {
  if (source.length > maxLength) {
    throw new ExpressionError(`expression longer than ${maxLength} characters`, maxLength);
  }
  return new Parser(tokenize(source), source.length).parse();
}

export function evaluateExpression(
  expression: Expression,
  lookup: (name: string) => Value | undefined,
): Value {
  switch (expression.kind) {
    case 'literal':
      return expression.value;
    case 'variable':
      return lookup(expression.name) ?? null;
    case 'compare':
      return compare(
        expression.operator,
        evaluateExpression(expression.left, lookup),
        evaluateExpression(expression.right, lookup),
      );
    case 'matches':
      return safeRegex(expression.pattern).test(text(evaluateExpression(expression.subject, lookup)));
    case 'not':
      return !isTruthy(evaluateExpression(expression.operand, lookup));
    case 'logical': {
      const holds = (operand: Expression) => isTruthy(evaluateExpression(operand, lookup));
      return expression.operator === 'and'
        ? expression.operands.every(holds)
        : expression.operands.some(holds);
    }
    default:
      return assertNever(expression);
  }
}

export function expressionVariables(expression: Expression): string[] {
  const names = new Set<string>();
  const visit = (node: Expression): void => {
    switch (node.kind) {
      case 'literal':
        return;
      case 'variable':
        names.add(node.name);
        return;
      case 'compare':
        visit(node.left);
        visit(node.right);
        return;
      case 'matches':
        visit(node.subject);
        return;
      case 'not':
        visit(node.operand);
        return;
      case 'logical':
        node.operands.forEach(visit);
        return;
      default:
        assertNever(node);
    }
  };
  visit(expression);
  return [...names];
}

// ---------------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------------

type Token = {
  readonly kind: 'name' | 'keyword' | 'number' | 'string' | 'symbol' | 'end';
  /** As written. */
  readonly text: string;
  readonly value: Value;
  readonly offset: number;
  readonly end: number;
};

const keywords = new Set(['and', 'or', 'not', 'contains', 'matches', 'true', 'false']);
const symbols = ['==', '!=', '<=', '>=', '<', '>', '(', ')'];
const hints: Record<string, string> = {
  '[': 'indexing is not supported',
  '=': "'=' is not an operator (compare with '==')",
  '"': 'strings take single quotes',
  '+': 'arithmetic is not supported',
  '-': 'arithmetic is not supported',
  '*': 'arithmetic is not supported',
  '/': 'arithmetic is not supported',
  '%': 'arithmetic is not supported',
};
const spaces = /\s*/y;
const dottedName = /[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*/y;
const numberLiteral = /-?\d+(?:\.\d+)?/y;

function matchAt(pattern: RegExp, source: string, at: number): string | undefined {
  pattern.lastIndex = at;
  return pattern.exec(source)?.[0];
}

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  const skipSpaces = (at: number) => at + (matchAt(spaces, source, at)?.length ?? 0);
  let at = skipSpaces(0);
  while (at < source.length) {
    const token = readToken(source, at);
    tokens.push(token);
    at = skipSpaces(token.end);
  }
  return tokens;
}

function readToken(source: string, at: number): Token {
  const name = matchAt(dottedName, source, at);
  if (name !== undefined) {
    const end = at + name.length;
    if (source.charAt(end) === '.') throw new ExpressionError("expected a name after '.'", end + 1);
    const kind = keywords.has(name.toLowerCase()) ? 'keyword' : 'name';
    return { kind, text: name, value: null, offset: at, end };
  }
  const number = matchAt(numberLiteral, source, at);
  if (number !== undefined) {
    const end = at + number.length;
    if (/[\w.]/.test(source.charAt(end))) throw new ExpressionError('malformed number', at);
    return { kind: 'number', text: number, value: Number(number), offset: at, end };
  }
  if (source.charAt(at) === "'") return readString(source, at);
  const symbol = symbols.find((candidate) => source.startsWith(candidate, at));
  if (symbol !== undefined)
    return { kind: 'symbol', text: symbol, value: null, offset: at, end: at + symbol.length };
  const char = String.fromCodePoint(source.codePointAt(at) ?? 0);
  throw new ExpressionError(hints[char] ?? `unexpected '${char}'`, at);
}

function readString(source: string, start: number): Token {
  let value = '';
  for (let at = start + 1; at < source.length; at++) {
    const char = source.charAt(at);
    if (char === "'")
      return { kind: 'string', text: source.slice(start, at + 1), value, offset: start, end: at + 1 };
    const next = source.charAt(at + 1);
    if (char === '\\' && (next === "'" || next === '\\')) {
      value += next;
      at++;
    } else {
      value += char;
    }
  }
  throw new ExpressionError('unterminated string', start);
}

// ---------------------------------------------------------------------------------------------------
// Parser: or < and < not < comparison, contains, matches < operand
// ---------------------------------------------------------------------------------------------------

type CompareOperator = Extract<Expression, { kind: 'compare' }>['operator'];
const compareOperators = new Set<string>(['==', '!=', '<', '<=', '>', '>=', 'contains']);
const isCompareOperator = (text: string): text is CompareOperator => compareOperators.has(text);

class Parser {
  readonly #tokens: readonly Token[];
  readonly #end: Token;
  #next = 0;
  #depth = 0;
  #regexWeight = 0;

  constructor(tokens: readonly Token[], length: number) {
    this.#tokens = tokens;
    this.#end = { kind: 'end', text: '', value: null, offset: length, end: length };
  }

  parse(): Expression {
    if (this.#tokens.length === 0) throw new ExpressionError('empty expression', 0);
    const expression = this.#or();
    const rest = this.#peek();
    if (rest.kind !== 'end') throw unexpected(rest);
    return expression;
  }

  #or(): Expression {
    return this.#logical('or', () => this.#and());
  }

  #and(): Expression {
    return this.#logical('and', () => this.#not());
  }

  #logical(operator: 'and' | 'or', operand: () => Expression): Expression {
    const first = operand();
    if (!isKeyword(this.#peek(), operator)) return first;
    const operands = [first];
    while (isKeyword(this.#peek(), operator)) {
      this.#take();
      operands.push(operand());
    }
    return { kind: 'logical', operator, operands };
  }

  #not(): Expression {
    const token = this.#peek();
    if (!isKeyword(token, 'not')) return this.#comparison();
    this.#take();
    return this.#nested(token, () => ({ kind: 'not', operand: this.#not() }));
  }

  #comparison(): Expression {
    const left = this.#operand();
    const token = this.#peek();
    if (isKeyword(token, 'matches')) {
      this.#take();
      return { kind: 'matches', subject: left, pattern: this.#pattern() };
    }
    const operator = token.kind === 'symbol' || token.kind === 'keyword' ? token.text.toLowerCase() : '';
    if (!isCompareOperator(operator)) return left;
    this.#take();
    return { kind: 'compare', operator, left, right: this.#operand() };
  }

  #pattern(): string {
    const token = this.#take();
    if (token.kind !== 'string') throw new ExpressionError("'matches' takes a string literal", token.offset);
    const pattern = String(token.value);
    try {
      this.#regexWeight += regexWeight(pattern);
    } catch (error) {
      if (!(error instanceof RegexError)) throw error;
      throw new ExpressionError(`invalid regex (${error.message} of the pattern)`, token.offset);
    }
    if (this.#regexWeight > maxWeight) {
      throw new ExpressionError('regexes of one expression too large together', token.offset);
    }
    return pattern;
  }

  #operand(): Expression {
    const token = this.#take();
    switch (token.kind) {
      case 'number':
      case 'string':
        return { kind: 'literal', value: token.value };
      case 'name': {
        const after = this.#peek();
        if (after.kind === 'symbol' && after.text === '(') {
          throw new ExpressionError('function calls are not supported', after.offset);
        }
        return { kind: 'variable', name: token.text };
      }
      case 'keyword': {
        const word = token.text.toLowerCase();
        if (word !== 'true' && word !== 'false') throw unexpected(token);
        return { kind: 'literal', value: word === 'true' };
      }
      case 'symbol':
        if (token.text !== '(') throw unexpected(token);
        return this.#nested(token, () => {
          const inner = this.#or();
          const close = this.#take();
          if (close.kind !== 'symbol' || close.text !== ')')
            throw new ExpressionError("expected ')'", close.offset);
          return inner;
        });
      case 'end':
        throw unexpected(token);
      default:
        return assertNever(token.kind);
    }
  }

  #nested(token: Token, parse: () => Expression): Expression {
    this.#depth += 1;
    if (this.#depth > maxDepth) throw new ExpressionError(`nested deeper than ${maxDepth}`, token.offset);
    const expression = parse();
    this.#depth -= 1;
    return expression;
  }

  #peek(): Token {
    return this.#tokens[this.#next] ?? this.#end;
  }

  #take(): Token {
    const token = this.#peek();
    if (token.kind !== 'end') this.#next += 1;
    return token;
  }
}

const isKeyword = (token: Token, word: string): boolean =>
  token.kind === 'keyword' && token.text.toLowerCase() === word;

const unexpected = (token: Token): ExpressionError =>
  token.kind === 'end'
    ? new ExpressionError('unexpected end of expression', token.offset)
    : new ExpressionError(`unexpected '${token.text}'`, token.offset);

// ---------------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------------

function compare(operator: CompareOperator, left: Value, right: Value): boolean {
  switch (operator) {
    case '==':
      return equals(left, right);
    case '!=':
      return !equals(left, right);
    case 'contains':
      return foldCase(text(left)).includes(foldCase(text(right)));
    // order() is NaN when null is involved, and every comparison with NaN is false.
    case '<':
      return order(left, right) < 0;
    case '<=':
      return order(left, right) <= 0;
    case '>':
      return order(left, right) > 0;
    case '>=':
      return order(left, right) >= 0;
    default:
      return assertNever(operator);
  }
}

function equals(left: Value, right: Value): boolean {
  if (left === null || right === null) return (left ?? '') === (right ?? '');
  const leftNumber = numeric(left);
  const rightNumber = numeric(right);
  if (leftNumber !== undefined && rightNumber !== undefined) return leftNumber === rightNumber;
  return String(left) === String(right);
}

function order(left: Value, right: Value): number {
  if (left === null || right === null) return Number.NaN;
  const leftNumber = numeric(left);
  const rightNumber = numeric(right);
  if (leftNumber !== undefined && rightNumber !== undefined) return leftNumber - rightNumber;
  const leftText = String(left);
  const rightText = String(right);
  return leftText < rightText ? -1 : leftText > rightText ? 1 : 0;
}

const numericText = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/;

function numeric(value: Value): number | undefined {
  const number =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && numericText.test(value.trim())
        ? Number(value)
        : Number.NaN;
  return Number.isFinite(number) ? number : undefined;
}

export const isTruthy = (value: Value | undefined): boolean =>
  value !== undefined &&
  value !== null &&
  value !== false &&
  value !== 0 &&
  value !== '' &&
  value !== 'false';

const text = (value: Value): string => (value === null ? '' : String(value));

/** Case and accents ignored: 'São' and 'sao' fold alike. */
export const foldCase = (value: string): string =>
  value.toLowerCase().normalize('NFD').replace(/\p{M}/gu, '');
