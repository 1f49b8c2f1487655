import { assertNever } from '../lang/assertNever.ts';
import { memoize } from '../lang/memoize.ts';

/*
 * The regexes of flows — `matches` in expressions, and keyword triggers — run on this engine: the pattern becomes a Thompson NFA that is
 * simulated in lockstep over the subject (a Pike VM without captures), so matching costs at most
 * program weight × subject length, whatever the pattern. Native RegExp backtracks — `(a+)+$`,
 * `(a|aa)*$` and `\d*\d*\d*x` all explode — and re2-wasm 1.0.2 leaks each compiled regex into a
 * fixed 16 MiB heap (about 1,900 compilations and the module is dead) and aborts on short patterns
 * such as `(\p{L}|\p{N}){1000}`.
 *
 * Syntax, a subset of JavaScript's: literals, `.`, `[a-z]`, `[^…]`, `\d \w \s \D \W \S`, `\b \B`, `^ $`,
 * `( )`, `(?: )`, `|`, `* + ? {n} {n,} {n,m}` (lazy forms accepted: a yes/no test does not care).
 * Backreferences, lookarounds, named groups and Unicode property escapes are refused.
 */

const maxPatternLength = 200;
const maxRepeat = 1_000;
/**
 * Instructions plus class members, for one regex and for all those of an expression together: the
 * work per subject character is proportional to it, which keeps one evaluation under about 10 ms.
 */
export const maxWeight = 500;
const maxSubject = 1_000;

/** A pattern this engine refuses; `offset` is where, in code points. */
export class RegexError extends Error {
  override name = 'RegexError';
  readonly offset: number;

  constructor(problem: string, offset: number) {
    super(`${problem} at ${offset}`);
    this.offset = offset;
  }
}

export type SafeRegex = { test(subject: string): boolean };

/** The work one pattern costs per subject character (see maxWeight); throws RegexError. */
export const regexWeight = (pattern: string): number => compileRegex(pattern).weight;

/**
 * Compiles a case-insensitive regex (see above), once per pattern per process; throws RegexError
 * with an offset into the pattern.
 */
export const safeRegex: (pattern: string) => SafeRegex = memoize(compileSafeRegex, 1_000);

function compileSafeRegex(pattern: string): SafeRegex {
  const { program } = compileRegex(pattern);
  return {
    test: (subject) => runs(program, Array.from(subject.slice(0, 2 * maxSubject)).slice(0, maxSubject)),
  };
}

function compileRegex(pattern: string): { program: Instruction[]; weight: number } {
  if (pattern.length > maxPatternLength) {
    throw new RegexError(`regex longer than ${maxPatternLength} characters`, maxPatternLength);
  }
  const tree = new RegexParser(pattern).parse();
  const treeWeight = weight(tree);
  if (treeWeight > maxWeight) throw new RegexError('regex too large once repetitions are expanded', 0);
  const program: Instruction[] = [];
  compile(tree, program);
  program.push({ op: 'match' });
  return { program, weight: treeWeight };
}

type CharTest = (char: string) => boolean;
type Anchor = 'start' | 'end' | 'wordBoundary' | 'notWordBoundary';

type RegexNode =
  | { readonly kind: 'char'; readonly test: CharTest; readonly cost: number }
  | { readonly kind: 'anchor'; readonly anchor: Anchor }
  | { readonly kind: 'sequence'; readonly items: readonly RegexNode[] }
  | { readonly kind: 'alternation'; readonly options: readonly RegexNode[] }
  | { readonly kind: 'repeat'; readonly item: RegexNode; readonly min: number; readonly max: number | null };

/** A member of a class, or an escape: its test, and the character itself when it is one (a range end). */
type CharItem = { readonly test: CharTest; readonly char?: string };

const digit: CharTest = (char) => char >= '0' && char <= '9';
const wordChar: CharTest = (char) => /^\w$/.test(char);
const space: CharTest = (char) => /^\s$/u.test(char);
const shorthands: Record<string, CharTest> = {
  d: digit,
  D: (char) => !digit(char),
  w: wordChar,
  W: (char) => !wordChar(char),
  s: space,
  S: (char) => !space(char),
};
const controls: Record<string, string> = { n: '\n', r: '\r', t: '\t', f: '\f', v: '\v' };
const lineTerminators = new Set(['\n', '\r', '\u2028', '\u2029']);

function literal(char: string): CharTest {
  const lower = char.toLowerCase();
  return (candidate) => candidate === char || candidate.toLowerCase() === lower;
}

function range(from: string, to: string): CharTest {
  const low = from.codePointAt(0) ?? 0;
  const high = to.codePointAt(0) ?? 0;
  const within = (char: string) => {
    const point = char.codePointAt(0) ?? -1;
    return point >= low && point <= high;
  };
  return (char) => within(char) || within(char.toLowerCase()) || within(char.toUpperCase());
}

/** Recursive descent over code points; offsets in errors are code point indexes into the pattern. */
class RegexParser {
  readonly #chars: readonly string[];
  #at = 0;

  constructor(pattern: string) {
    this.#chars = Array.from(pattern);
  }

  parse(): RegexNode {
    const tree = this.#alternation();
    if (this.#at < this.#chars.length) throw new RegexError("unmatched ')'", this.#at);
    return tree;
  }

  #alternation(): RegexNode {
    const first = this.#sequence();
    if (this.#peek() !== '|') return first;
    const options = [first];
    while (this.#peek() === '|') {
      this.#at += 1;
      options.push(this.#sequence());
    }
    return { kind: 'alternation', options };
  }

  #sequence(): RegexNode {
    const items: RegexNode[] = [];
    while (this.#at < this.#chars.length && this.#peek() !== '|' && this.#peek() !== ')') {
      items.push(this.#quantified());
    }
    return { kind: 'sequence', items };
  }

  #quantified(): RegexNode {
    const start = this.#at;
    const atom = this.#atom();
    const bounds = this.#quantifier();
    if (bounds === undefined) return atom;
    if (atom.kind === 'anchor') throw new RegexError('nothing to repeat', start);
    if (this.#peek() === '?') this.#at += 1;
    // Repeating what matches only '' changes nothing, and skipping it keeps compiling bounded by weight.
    return weight(atom) === 0 ? atom : { kind: 'repeat', item: atom, ...bounds };
  }

  #quantifier(): { min: number; max: number | null } | undefined {
    switch (this.#peek()) {
      case '*':
        this.#at += 1;
        return { min: 0, max: null };
      case '+':
        this.#at += 1;
        return { min: 1, max: null };
      case '?':
        this.#at += 1;
        return { min: 0, max: 1 };
      case '{':
        return this.#braces();
      default:
        return undefined;
    }
  }

  #braces(): { min: number; max: number | null } {
    const start = this.#at;
    this.#at += 1;
    const min = this.#count();
    let max: number | null | undefined = min;
    if (this.#peek() === ',') {
      this.#at += 1;
      max = this.#count() ?? null;
    }
    if (min === undefined || max === undefined || this.#peek() !== '}') {
      throw new RegexError('incomplete quantifier', start);
    }
    this.#at += 1;
    if (max !== null && max < min) throw new RegexError('numbers out of order in quantifier', start);
    return { min, max };
  }

  #count(): number | undefined {
    const start = this.#at;
    while (digit(this.#peek())) this.#at += 1;
    if (this.#at === start) return undefined;
    const count = Number(this.#chars.slice(start, this.#at).join(''));
    if (count > maxRepeat) throw new RegexError(`repetition above ${maxRepeat}`, start);
    return count;
  }

  #atom(): RegexNode {
    const start = this.#at;
    const char = this.#take();
    switch (char) {
      case '(':
        return this.#group(start);
      case '[':
        return this.#class(start);
      case '.':
        return { kind: 'char', test: (candidate) => !lineTerminators.has(candidate), cost: 1 };
      case '^':
        return { kind: 'anchor', anchor: 'start' };
      case '$':
        return { kind: 'anchor', anchor: 'end' };
      case '\\':
        if (this.#peek() === 'b' || this.#peek() === 'B') {
          return { kind: 'anchor', anchor: this.#take() === 'b' ? 'wordBoundary' : 'notWordBoundary' };
        }
        return { kind: 'char', test: this.#escaped(start).test, cost: 1 };
      case '*':
      case '+':
      case '?':
      case '{':
        throw new RegexError('nothing to repeat', start);
      case ']':
      case '}':
        throw new RegexError(`unescaped '${char}'`, start);
      default:
        return { kind: 'char', test: literal(char), cost: 1 };
    }
  }

  #group(start: number): RegexNode {
    if (this.#peek() === '?') {
      if (this.#peek(1) !== ':')
        throw new RegexError('lookarounds and named groups are not supported', start);
      this.#at += 2;
    }
    const inner = this.#alternation();
    if (this.#take() !== ')') throw new RegexError("missing ')'", start);
    return inner;
  }

  #class(start: number): RegexNode {
    const negated = this.#peek() === '^';
    if (negated) this.#at += 1;
    const tests: CharTest[] = [];
    while (this.#peek() !== ']') {
      if (this.#at >= this.#chars.length) throw new RegexError("missing ']'", start);
      const from = this.#classItem();
      if (from.char === undefined || this.#peek() !== '-' || this.#peek(1) === ']' || this.#peek(1) === '') {
        tests.push(from.test);
        continue;
      }
      const dash = this.#at;
      this.#at += 1;
      const to = this.#classItem();
      if (to.char === undefined) throw new RegexError('invalid range', dash);
      if ((from.char.codePointAt(0) ?? 0) > (to.char.codePointAt(0) ?? 0)) {
        throw new RegexError('range out of order', dash);
      }
      tests.push(range(from.char, to.char));
    }
    this.#at += 1;
    const member: CharTest = (char) => tests.some((test) => test(char));
    return {
      kind: 'char',
      test: negated ? (char) => !member(char) : member,
      cost: Math.max(1, tests.length),
    };
  }

  #classItem(): CharItem {
    const start = this.#at;
    const char = this.#take();
    return char === '\\' ? this.#escaped(start) : { test: literal(char), char };
  }

  /** What follows a backslash, inside or outside a class. */
  #escaped(start: number): CharItem {
    const char = this.#take();
    if (char === '') throw new RegexError('\\ at end of pattern', start);
    const shorthand = shorthands[char];
    if (shorthand) return { test: shorthand };
    const control = controls[char];
    if (control !== undefined) return { test: literal(control), char: control };
    if (/[1-9]/.test(char)) throw new RegexError('backreferences are not supported', start);
    if (/[A-Za-z0-9]/.test(char)) throw new RegexError(`unsupported escape '\\${char}'`, start);
    return { test: literal(char), char };
  }

  #peek(ahead = 0): string {
    return this.#chars[this.#at + ahead] ?? '';
  }

  #take(): string {
    const char = this.#peek();
    this.#at += 1;
    return char;
  }
}

function weight(node: RegexNode): number {
  switch (node.kind) {
    case 'char':
      return node.cost;
    case 'anchor':
      return 1;
    case 'sequence':
      return node.items.reduce((sum, item) => sum + weight(item), 0);
    case 'alternation':
      // A split before and a jump after every option but the last.
      return node.options.reduce((sum, option) => sum + weight(option) + 2, -2);
    case 'repeat': {
      const each = weight(node.item);
      return node.min * each + (node.max === null ? each + 2 : (node.max - node.min) * (each + 1));
    }
    default:
      return assertNever(node);
  }
}

// Targets of splits and jumps are patched once the code they lead to is emitted.
type Split = { readonly op: 'split'; first: number; second: number };
type Jump = { readonly op: 'jump'; to: number };
type Instruction =
  | { readonly op: 'char'; readonly test: CharTest }
  | { readonly op: 'anchor'; readonly anchor: Anchor }
  | Split
  | Jump
  | { readonly op: 'match' };

function compile(node: RegexNode, program: Instruction[]): void {
  switch (node.kind) {
    case 'char':
      program.push({ op: 'char', test: node.test });
      return;
    case 'anchor':
      program.push({ op: 'anchor', anchor: node.anchor });
      return;
    case 'sequence':
      for (const item of node.items) compile(item, program);
      return;
    case 'alternation': {
      const exits: Jump[] = [];
      for (const [index, option] of node.options.entries()) {
        if (index === node.options.length - 1) {
          compile(option, program);
          break;
        }
        const split: Split = { op: 'split', first: program.length + 1, second: 0 };
        program.push(split);
        compile(option, program);
        const exit: Jump = { op: 'jump', to: 0 };
        program.push(exit);
        exits.push(exit);
        split.second = program.length;
      }
      for (const exit of exits) exit.to = program.length;
      return;
    }
    case 'repeat': {
      for (let copy = 0; copy < node.min; copy++) compile(node.item, program);
      if (node.max === null) {
        const start = program.length;
        const loop: Split = { op: 'split', first: start + 1, second: 0 };
        program.push(loop);
        compile(node.item, program);
        program.push({ op: 'jump', to: start });
        loop.second = program.length;
        return;
      }
      // x{2,4} is xx(x(x)?)?: each optional copy may skip to the end.
      const skips: Split[] = [];
      for (let copy = node.min; copy < node.max; copy++) {
        const skip: Split = { op: 'split', first: program.length + 1, second: 0 };
        program.push(skip);
        skips.push(skip);
        compile(node.item, program);
      }
      for (const skip of skips) skip.second = program.length;
      return;
    }
    default:
      assertNever(node);
  }
}

/** Whether the program matches anywhere in the subject (given as code points). */
function runs(program: readonly Instruction[], chars: readonly string[]): boolean {
  // seen[pc] is the position pc last joined at: each instruction runs at most once per position.
  const seen = new Int32Array(program.length).fill(-1);
  const join = (from: number, at: number, threads: number[]): boolean => {
    const pending = [from];
    for (let pc = pending.pop(); pc !== undefined; pc = pending.pop()) {
      const instruction = program[pc];
      if (instruction === undefined || seen[pc] === at) continue;
      seen[pc] = at;
      switch (instruction.op) {
        case 'match':
          return true;
        case 'char':
          threads.push(pc);
          break;
        case 'jump':
          pending.push(instruction.to);
          break;
        case 'split':
          pending.push(instruction.second, instruction.first);
          break;
        case 'anchor':
          if (anchorHolds(instruction.anchor, chars, at)) pending.push(pc + 1);
          break;
        default:
          assertNever(instruction);
      }
    }
    return false;
  };
  let threads: number[] = [];
  for (let at = 0; at <= chars.length; at++) {
    // Unanchored search: a fresh attempt joins at every position alongside the running ones.
    if (join(0, at, threads)) return true;
    const char = chars[at];
    if (char === undefined) return false;
    const advanced: number[] = [];
    for (const pc of threads) {
      const instruction = program[pc];
      if (instruction?.op === 'char' && instruction.test(char) && join(pc + 1, at + 1, advanced)) return true;
    }
    threads = advanced;
  }
  return false;
}

function anchorHolds(anchor: Anchor, chars: readonly string[], at: number): boolean {
  const boundary = () => isWordChar(chars[at - 1]) !== isWordChar(chars[at]);
  switch (anchor) {
    case 'start':
      return at === 0;
    case 'end':
      return at === chars.length;
    case 'wordBoundary':
      return boundary();
    case 'notWordBoundary':
      return !boundary();
    default:
      return assertNever(anchor);
  }
}

const isWordChar = (char: string | undefined): boolean => char !== undefined && wordChar(char);
