/**
 * Just enough SQL lexing for the warehouse's HTTP layer: statement keywords, the output
 * `FORMAT`, and where an `INSERT … FORMAT X` statement ends and its inline data begins.
 * The engine parses the SQL for real; a wrong guess here only costs a fallback path.
 */

interface Token {
  kind: 'word' | 'quoted' | 'string' | 'number' | 'punct';
  text: string;
  start: number;
  end: number;
}

class Lexer {
  pos = 0;
  constructor(readonly src: string) {}

  next(): Token | undefined {
    const s = this.src;
    for (;;) {
      while (this.pos < s.length && /\s/.test(s[this.pos] as string)) this.pos++;
      if (this.pos >= s.length) return undefined;
      if (s.startsWith('--', this.pos) || (s[this.pos] === '#' && /[\s!]/.test(s[this.pos + 1] ?? ' '))) {
        const nl = s.indexOf('\n', this.pos);
        this.pos = nl < 0 ? s.length : nl + 1;
        continue;
      }
      if (s.startsWith('/*', this.pos)) {
        const close = s.indexOf('*/', this.pos + 2);
        this.pos = close < 0 ? s.length : close + 2;
        continue;
      }
      break;
    }
    const start = this.pos;
    const c = s[start] as string;
    if (c === "'" || c === '"' || c === '`') {
      let i = start + 1;
      while (i < s.length) {
        const ch = s[i];
        if (ch === '\\') i += 2;
        else if (ch === c) {
          if (s[i + 1] === c) i += 2;
          else break;
        } else i++;
      }
      this.pos = Math.min(i + 1, s.length);
      return { kind: c === "'" ? 'string' : 'quoted', text: s.slice(start, this.pos), start, end: this.pos };
    }
    if (/[A-Za-z_\u0080-\uffff]/.test(c)) {
      let i = start + 1;
      while (i < s.length && /[\w$\u0080-\uffff]/.test(s[i] as string)) i++;
      this.pos = i;
      return { kind: 'word', text: s.slice(start, i), start, end: i };
    }
    if (/[0-9]/.test(c)) {
      let i = start + 1;
      while (i < s.length && /[\w.]/.test(s[i] as string)) i++;
      this.pos = i;
      return { kind: 'number', text: s.slice(start, i), start, end: i };
    }
    this.pos = start + 1;
    return { kind: 'punct', text: c, start, end: this.pos };
  }
}

/** An `INSERT … FORMAT X` (or `INSERT … VALUES`) statement whose data follows inline. */
export interface InsertWithData {
  /** `INSERT INTO <target> [(cols)]`: where `FROM INFILE` may be spliced in. */
  head: string;
  /** `[SETTINGS …] FORMAT X`, or `VALUES` for the VALUES form. */
  tail: string;
  /** The input format, undefined for the VALUES form. */
  format?: string;
  /** Plain `[db.]table` target, when it is one (no quoting, no table function). */
  table?: string;
  /** Plain column list, when one is given and it is plain identifiers. */
  columns?: string[];
  /** Whether the statement carries its own SETTINGS clause. */
  hasSettings: boolean;
  /** Offsets of `head` and `tail` in the analysed text. */
  headEnd: number;
  tailStart: number;
  tailEnd: number;
  /** Offset in the analysed text where the inline data starts (after one line break). */
  dataStart: number;
}

/** What the HTTP layer needs to know about a request's SQL. */
export interface SqlAnalysis {
  /** First keyword (upper case) of every statement; '' for one that starts otherwise. */
  keywords: string[];
  /** The last statement's explicit output `FORMAT`, if it has one (not for INSERT). */
  outputFormat?: string;
  /** Set when the (only or last) statement is an INSERT whose data follows inline. */
  insert?: InsertWithData;
  /** A statement changes connection state (SET, USE, temporary tables). */
  mutatesSession: boolean;
  /** Parameter placeholders `{name:Type}` found in the text, name to type. */
  paramTypes: Map<string, string>;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

function skipLineBreak(src: string, pos: number): number {
  let i = pos;
  while (i < src.length && (src[i] === ' ' || src[i] === '\t')) i++;
  if (src[i] === '\r') i++;
  if (src[i] === '\n') i++;
  return i;
}

/** A statement's tokens read by position, pulled from the lexer only as far as they are asked for. */
class TokenCursor {
  constructor(readonly tokens: Token[], readonly lx: Lexer, public i: number) {}

  at(k: number): Token | undefined {
    while (this.tokens.length <= k) {
      const t = this.lx.next();
      if (!t) return undefined;
      this.tokens.push(t);
    }
    return this.tokens[k];
  }
}

function analyzeInsert(src: string, tokens: Token[], lx: Lexer): InsertWithData | undefined {
  // tokens holds INSERT INTO …; read on until FORMAT/VALUES/SELECT at depth 0.
  const c = new TokenCursor(tokens, lx, 2);
  if (c.at(c.i)?.text.toUpperCase() === 'TABLE') c.i++;
  const targetStart = c.at(c.i);
  if (!targetStart) return undefined;
  let table: string | undefined;
  if (targetStart.text.toUpperCase() === 'FUNCTION') {
    if (!skipTableFunction(c)) return undefined;
  } else {
    const target = readTableName(c);
    if (!target) return undefined;
    table = target.table;
  }
  let columns: string[] | undefined;
  if (c.at(c.i)?.text === '(') {
    const list = readColumnList(c);
    if (!list) return undefined;
    columns = list.plain && list.columns.length > 0 ? list.columns : undefined;
    if (!list.plain) table = undefined;
  }
  return readInsertTail(src, c, { table, columns });
}

/** Skips `FUNCTION name(…)`; false when the text ends inside it. */
function skipTableFunction(c: TokenCursor): boolean {
  c.i += 2;
  let depth = 0;
  for (;;) {
    const t = c.at(c.i);
    if (!t) return false;
    if (t.text === '(') depth++;
    if (t.text === ')') depth--;
    c.i++;
    if (depth === 0) return true;
  }
}

/** Reads `[db.]table` (quoted parts allowed); `table` is set when it is plain. Undefined: not a target. */
function readTableName(c: TokenCursor): { table: string | undefined } | undefined {
  const parts: string[] = [];
  let plain = true;
  for (;;) {
    const t = c.at(c.i);
    if (!t || (t.kind !== 'word' && t.kind !== 'quoted')) return undefined;
    if (t.kind !== 'word') plain = false;
    parts.push(t.text);
    c.i++;
    if (c.at(c.i)?.text !== '.') break;
    c.i++;
  }
  return { table: plain && parts.length <= 2 ? parts.join('.') : undefined };
}

/** Reads `(col, …)`; `plain` when every entry is a plain identifier. Undefined when the text ends inside it. */
function readColumnList(c: TokenCursor): { columns: string[]; plain: boolean } | undefined {
  const columns: string[] = [];
  let plain = true;
  let depth = 0;
  for (;;) {
    const t = c.at(c.i);
    if (!t) return undefined;
    c.i++;
    if (t.text === '(') depth++;
    else if (t.text === ')') {
      depth--;
      if (depth === 0) break;
    } else if (depth === 1 && t.text !== ',') {
      if (t.kind === 'word' && IDENT.test(t.text)) columns.push(t.text);
      else plain = false;
    } else if (depth > 1) plain = false;
  }
  return { columns, plain };
}

/** Reads from after the target and columns to `VALUES` or `FORMAT X`; undefined for `SELECT`/`WITH` or no data. */
function readInsertTail(src: string, c: TokenCursor, target: Pick<InsertWithData, 'table' | 'columns'>): InsertWithData | undefined {
  const headEnd = c.tokens[c.i - 1]?.end ?? 0;
  const tailStart = c.at(c.i);
  if (!tailStart) return undefined;
  const { table, columns } = target;
  let hasSettings = false;
  let depth = 0;
  for (;;) {
    const t = c.at(c.i);
    if (!t) return undefined;
    const up = t.kind === 'word' ? t.text.toUpperCase() : '';
    if (t.text === '(') depth++;
    else if (t.text === ')') depth--;
    else if (depth === 0 && up === 'SETTINGS') hasSettings = true;
    else if (depth === 0 && (up === 'SELECT' || up === 'WITH')) return undefined;
    else if (depth === 0 && up === 'VALUES') {
      return {
        head: src.slice(0, headEnd),
        tail: src.slice(tailStart.start, t.end),
        table,
        columns,
        hasSettings,
        headEnd,
        tailStart: tailStart.start,
        tailEnd: t.end,
        dataStart: t.end,
      };
    } else if (depth === 0 && up === 'FORMAT') {
      const name = c.at(c.i + 1);
      if (!name || name.kind !== 'word') return undefined;
      return {
        head: src.slice(0, headEnd),
        tail: src.slice(tailStart.start, name.end),
        format: name.text,
        table,
        columns,
        hasSettings,
        headEnd,
        tailStart: tailStart.start,
        tailEnd: name.end,
        dataStart: skipLineBreak(src, name.end),
      };
    }
    c.i++;
  }
}

/**
 * Analyses `src`. For an INSERT with inline data, lexing stops where the data starts, so
 * the data is never scanned.
 */
export function analyzeSql(src: string): SqlAnalysis {
  const out: SqlAnalysis = { keywords: [], mutatesSession: false, paramTypes: new Map() };
  const lx = new Lexer(src);
  for (let t = lx.next(); t; t = lx.next()) {
    const first = t.kind === 'word' ? t.text.toUpperCase() : t.text === '(' ? 'SELECT' : '';
    out.keywords.push(first);
    const stmt: Token[] = [t];
    if (first === 'INSERT') {
      const second = lx.next();
      if (second) stmt.push(second);
      if (second?.text.toUpperCase() === 'INTO') {
        const ins = analyzeInsert(src, stmt, lx);
        if (ins) {
          out.insert = ins;
          collectParamTypes(src.slice(0, ins.dataStart), out.paramTypes);
          return out;
        }
      }
    }
    let depth = 0;
    for (const x of stmt) depth += x.text === '(' ? 1 : x.text === ')' ? -1 : 0;
    if (stmt[stmt.length - 1]?.text !== ';' || depth > 0) {
      for (let u = lx.next(); u; u = lx.next()) {
        if (u.text === ';' && depth <= 0) break;
        if (u.text === '(') depth++;
        else if (u.text === ')') depth--;
        stmt.push(u);
      }
    }
    out.outputFormat = undefined;
    if (first !== 'INSERT') {
      for (let i = 0; i < stmt.length; i++) {
        const tk = stmt[i] as Token;
        const name = stmt[i + 1];
        if (tk.kind === 'word' && tk.text.toUpperCase() === 'FORMAT' && name?.kind === 'word') {
          const after = stmt[i + 2];
          if (!after || after.text === ';' || after.text.toUpperCase() === 'SETTINGS') out.outputFormat = name.text;
        }
      }
    }
    const words = stmt.slice(0, 5).map((x) => x.text.toUpperCase());
    if (first === 'SET' || first === 'USE' || words.includes('TEMPORARY')) out.mutatesSession = true;
  }
  collectParamTypes(src, out.paramTypes);
  return out;
}

function collectParamTypes(src: string, into: Map<string, string>): void {
  const re = /\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*((?:[^{}'"]|'(?:[^'\\]|\\.)*')+?)\s*\}/g;
  for (const m of src.matchAll(re)) into.set(m[1] as string, (m[2] as string).trim());
}

const SIMPLE_ESCAPES: Record<string, string> = { '\\': '\\', '0': '\0', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/**
 * Turns a query parameter as it arrives over HTTP (ClickHouse's escaped text form, the one
 * `@clickhouse/client` and clickhouse-go produce) into the value to hand to chDB's
 * `queryBindAsync`, which re-escapes strings with TSV rules before binding. The result binds
 * to the same value the ClickHouse server would give the raw text, including `\N` (NULL),
 * `\'` in top-level strings, and quotes inside Array/Map/Tuple literals.
 */
export function httpParamToBindValue(raw: string, type: string | undefined): string | null {
  if (raw === '\\N') return null;
  if (!raw.includes('\\')) return raw;
  let inner = (type ?? 'String').trim();
  for (;;) {
    const m = /^(?:Nullable|LowCardinality)\s*\((.*)\)$/s.exec(inner);
    if (!m) break;
    inner = (m[1] as string).trim();
  }
  const composite = /^(Array|Map|Tuple|Nested|Variant|Dynamic|JSON|Object|Point|Ring|Polygon|MultiPolygon|LineString|MultiLineString)\b/i.test(inner);
  let out = '';
  let inQuote = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as string;
    if (c === '\\' && i + 1 < raw.length) {
      const n = raw[++i] as string;
      const simple = SIMPLE_ESCAPES[n];
      if (simple !== undefined) out += simple;
      else if (composite && inQuote && n === "'") out += "''";
      else if (!composite && n === 'x' && /^[0-9A-Fa-f]{2}$/.test(raw.slice(i + 1, i + 3))) {
        out += String.fromCharCode(parseInt(raw.slice(i + 1, i + 3), 16));
        i += 2;
      } else if (!composite && n === 'a') out += '\x07';
      else if (!composite && n === 'v') out += '\x0b';
      else out += n;
      continue;
    }
    if (composite && c === "'") inQuote = !inQuote;
    out += c;
  }
  return out;
}

/** Quotes a string as a ClickHouse SQL string literal. */
export function sqlString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** Quotes an identifier with backticks. */
export function sqlIdent(s: string): string {
  return `\`${s.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;
}
