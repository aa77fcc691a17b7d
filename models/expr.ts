/**
 * The manifest's expression language: a small, safe arithmetic language over feature names, compiled
 * once into a closure over the numeric feature vector. No `eval`, no property access, no loops: an
 * expression can only read features by name, combine numbers and call the functions listed here.
 *
 * ```
 * log1p(spend_30d_minor) - log1p(spend_90d_minor / 3)
 * ratio(tx_count_7d, tx_count_30d)
 * clamp(recency_days / max(interval_mean_days, 1), 0, 10)
 * if(tenure_days < 90, 1, 0)
 * ```
 *
 * Grammar (usual precedence, left-associative except `^`):
 * ```
 * expr    := compare
 * compare := sum (( "<" | "<=" | ">" | ">=" | "==" | "!=" ) sum)?      → 1 or 0
 * sum     := product (( "+" | "-" ) product)*
 * product := unary (( "*" | "/" | "%" ) unary)*
 * unary   := "-" unary | power
 * power   := atom ( "^" unary )?
 * atom    := number | name | name "(" expr ("," expr)* ")" | "(" expr ")"
 * ```
 * Numbers are decimal (`12`, `0.5`, `1e6`). Names are feature names (`[A-Za-z_][A-Za-z0-9_]*`).
 * Functions: {@link FUNCTIONS}. Arithmetic is IEEE double: a division by zero gives ±Infinity or NaN,
 * which the mapping treats as a missing value (see `impute` in `models/mapping.ts`).
 */
import { InvariantError, item } from '../scorer/core/mod.js';

/** A compiled expression: the value for one feature vector (catalogue order). */
export type Compiled = (v: ArrayLike<number>) => number;

type Fn = { arity: [number, number]; doc: string; f: (...a: number[]) => number };

/** The functions an expression may call: name → arity (min, max) and meaning. */
export const FUNCTIONS: Readonly<Record<string, Fn>> = Object.freeze({
  log1p: { arity: [1, 1], doc: 'ln(1 + x)', f: Math.log1p },
  log: { arity: [1, 1], doc: 'natural logarithm', f: Math.log },
  exp: { arity: [1, 1], doc: 'e^x', f: Math.exp },
  sqrt: { arity: [1, 1], doc: 'square root', f: Math.sqrt },
  abs: { arity: [1, 1], doc: 'absolute value', f: Math.abs },
  floor: { arity: [1, 1], doc: 'round down', f: Math.floor },
  ceil: { arity: [1, 1], doc: 'round up', f: Math.ceil },
  round: { arity: [1, 1], doc: 'round to nearest', f: Math.round },
  sign: { arity: [1, 1], doc: '-1, 0 or 1', f: Math.sign },
  min: { arity: [2, 16], doc: 'smallest argument', f: Math.min },
  max: { arity: [2, 16], doc: 'largest argument', f: Math.max },
  clamp: { arity: [3, 3], doc: 'clamp(x, lo, hi): x limited to [lo, hi]', f: (x, lo, hi) => Math.min(hi, Math.max(lo, x)) },
  ratio: {
    arity: [2, 3], doc: 'ratio(a, b, d = 0): a / b, or d when b is 0',
    f: (a, b, d = 0) => (b === 0 ? d : a / b),
  },
  if: { arity: [3, 3], doc: 'if(c, a, b): a when c is non-zero, else b', f: (c, a, b) => (c !== 0 && !Number.isNaN(c) ? a : b) },
  isnan: { arity: [1, 1], doc: '1 when x is missing (NaN or infinite), else 0', f: (x) => (Number.isFinite(x) ? 0 : 1) },
});

/** Longest expression accepted, characters. */
export const MAX_EXPR_LENGTH = 1000;
const MAX_DEPTH = 40;

/** A syntax or name error, with the character position (0-based) where it was found. */
export class ExprError extends Error {
  constructor(message: string, readonly at: number) {
    super(`${message} at character ${at + 1}`);
    this.name = 'ExprError';
  }
}

type Node =
  | { k: 'num'; v: number }
  | { k: 'var'; name: string; at: number }
  | { k: 'neg'; a: Node }
  | { k: 'bin'; op: string; a: Node; b: Node }
  | { k: 'call'; name: string; args: Node[] };

interface Token { t: 'num' | 'id' | 'op' | 'end'; s: string; at: number }

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src.charAt(i);
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    const num = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(src.slice(i));
    if (num) {
      out.push({ t: 'num', s: num[0], at: i });
      i += num[0].length;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
    if (id) {
      out.push({ t: 'id', s: id[0], at: i });
      i += id[0].length;
      continue;
    }
    const two = src.slice(i, i + 2);
    if (['<=', '>=', '==', '!='].includes(two)) {
      out.push({ t: 'op', s: two, at: i });
      i += 2;
      continue;
    }
    if ('+-*/%^(),<>'.includes(c)) {
      out.push({ t: 'op', s: c, at: i });
      i++;
      continue;
    }
    throw new ExprError(`unexpected character ${JSON.stringify(c)}`, i);
  }
  out.push({ t: 'end', s: '', at: src.length });
  return out;
}

/** Parses an expression; throws {@link ExprError} naming the position of the first problem. */
export function parseExpr(src: string): Node {
  if (src.length > MAX_EXPR_LENGTH) throw new ExprError(`longer than ${MAX_EXPR_LENGTH} characters`, MAX_EXPR_LENGTH);
  const parser = new Parser(tokenize(src));
  const tree = parser.expr();
  const rest = parser.peek();
  if (rest.t !== 'end') throw new ExprError(`unexpected "${rest.s}" after a complete expression`, rest.at);
  return tree;
}

/** Recursive descent over the tokens, one method a rule of the grammar; nesting is limited to MAX_DEPTH. */
class Parser {
  private p = 0;
  private depth = 0;

  constructor(private readonly toks: Token[]) {}

  peek(): Token {
    return item(this.toks, this.p);
  }

  private next(): Token {
    return item(this.toks, this.p++);
  }

  private expect(s: string): void {
    const t = this.next();
    if (t.s !== s || t.t !== 'op') throw new ExprError(`expected "${s}", found ${t.t === 'end' ? 'the end' : `"${t.s}"`}`, t.at);
  }

  private enter(at: number): void {
    if (++this.depth > MAX_DEPTH) throw new ExprError(`nested deeper than ${MAX_DEPTH} levels`, at);
  }

  private isOp(t: Token, ...ops: string[]): boolean {
    return t.t === 'op' && ops.includes(t.s);
  }

  expr(): Node {
    this.enter(this.peek().at);
    const a = this.sum();
    const t = this.peek();
    if (this.isOp(t, '<', '<=', '>', '>=', '==', '!=')) {
      this.next();
      const b = this.sum();
      this.depth--;
      return { k: 'bin', op: t.s, a, b };
    }
    this.depth--;
    return a;
  }

  private sum(): Node {
    let a = this.product();
    for (let t = this.peek(); this.isOp(t, '+', '-'); t = this.peek()) {
      this.next();
      a = { k: 'bin', op: t.s, a, b: this.product() };
    }
    return a;
  }

  private product(): Node {
    let a = this.unary();
    for (let t = this.peek(); this.isOp(t, '*', '/', '%'); t = this.peek()) {
      this.next();
      a = { k: 'bin', op: t.s, a, b: this.unary() };
    }
    return a;
  }

  private unary(): Node {
    const t = this.peek();
    if (!this.isOp(t, '-')) return this.power();
    this.next();
    this.enter(t.at);
    const a = this.unary();
    this.depth--;
    return { k: 'neg', a };
  }

  private power(): Node {
    const a = this.atom();
    const t = this.peek();
    if (!this.isOp(t, '^')) return a;
    this.next();
    this.enter(t.at);
    const b = this.unary();
    this.depth--;
    return { k: 'bin', op: '^', a, b };
  }

  private atom(): Node {
    const t = this.next();
    if (t.t === 'num') return { k: 'num', v: Number(t.s) };
    if (t.t === 'id') return this.isOp(this.peek(), '(') ? this.call(t) : { k: 'var', name: t.s, at: t.at };
    if (this.isOp(t, '(')) {
      const e = this.expr();
      this.expect(')');
      return e;
    }
    throw new ExprError(t.t === 'end' ? 'unexpected end of expression' : `unexpected "${t.s}"`, t.at);
  }

  /** `name(args…)`, the `(` next: a known function with as many arguments as it takes. */
  private call(t: Token): Node {
    const fn = FUNCTIONS[t.s];
    if (!Object.hasOwn(FUNCTIONS, t.s) || !fn) {
      throw new ExprError(`unknown function "${t.s}" (functions: ${Object.keys(FUNCTIONS).join(', ')})`, t.at);
    }
    this.next();
    const args: Node[] = [this.expr()];
    while (this.isOp(this.peek(), ',')) {
      this.next();
      args.push(this.expr());
    }
    this.expect(')');
    if (args.length < fn.arity[0] || args.length > fn.arity[1]) {
      const want = fn.arity[0] === fn.arity[1] ? `${fn.arity[0]}` : `${fn.arity[0]} to ${fn.arity[1]}`;
      throw new ExprError(`${t.s}() takes ${want} argument${fn.arity[1] === 1 ? '' : 's'}, got ${args.length}`, t.at);
    }
    return { k: 'call', name: t.s, args };
  }
}

/** Feature names an expression reads, in order of first use. */
export function exprNames(src: string): string[] {
  const names: string[] = [];
  const walk = (n: Node): void => {
    if (n.k === 'var') {
      if (!names.includes(n.name)) names.push(n.name);
    } else if (n.k === 'neg') walk(n.a);
    else if (n.k === 'bin') {
      walk(n.a);
      walk(n.b);
    } else if (n.k === 'call') n.args.forEach(walk);
  };
  walk(parseExpr(src));
  return names;
}

const BIN: Record<string, (a: number, b: number) => number> = {
  '+': (a, b) => a + b, '-': (a, b) => a - b, '*': (a, b) => a * b, '/': (a, b) => a / b, '%': (a, b) => a % b,
  '^': (a, b) => a ** b,
  '<': (a, b) => (a < b ? 1 : 0), '<=': (a, b) => (a <= b ? 1 : 0), '>': (a, b) => (a > b ? 1 : 0),
  '>=': (a, b) => (a >= b ? 1 : 0), '==': (a, b) => (a === b ? 1 : 0), '!=': (a, b) => (a !== b ? 1 : 0),
};

/**
 * Compiles an expression into a closure over the feature vector.
 * @param indexOf the position of a feature name in the vector, or undefined when there is none.
 * @throws ExprError on a syntax error or an unknown name (with its position).
 */
export function compileExpr(src: string, indexOf: (name: string) => number | undefined): Compiled {
  const build = (n: Node): Compiled => {
    switch (n.k) {
      case 'num': {
        const v = n.v;
        return () => v;
      }
      case 'var': {
        const i = indexOf(n.name);
        if (i === undefined) throw new ExprError(`unknown feature "${n.name}"`, n.at);
        return (v) => v[i] ?? NaN;
      }
      case 'neg': {
        const a = build(n.a);
        return (v) => -a(v);
      }
      case 'bin': {
        const a = build(n.a);
        const b = build(n.b);
        const op = BIN[n.op];
        if (!op) throw new InvariantError(`expression: the parser made an operator "${n.op}" that has no meaning`);
        if (n.a.k === 'var' && n.b.k === 'num') {
          const bv = n.b.v;
          return (v) => op(a(v), bv);
        }
        return (v) => op(a(v), b(v));
      }
      case 'call': {
        const fn = FUNCTIONS[n.name];
        if (!fn) throw new InvariantError(`expression: the parser let through an unknown function "${n.name}"`);
        const { f } = fn;
        const args = n.args.map(build);
        const [a, b] = args;
        if (args.length === 1 && a) return (v) => f(a(v));
        if (args.length === 2 && a && b) return (v) => f(a(v), b(v));
        return (v) => f(...args.map((g) => g(v)));
      }
    }
  };
  return build(parseExpr(src));
}
