/**
 * Expands a Grafana panel's SQL the way Grafana and the ClickHouse data source plugin
 * (grafana-clickhouse-datasource v4.20.0) do before the query reaches ClickHouse, in the same order:
 *
 *  1. the plugin's front end replaces `$__conditionalAll(condition, $var)` with `1=1` when the variable
 *     selects "All" (or nothing), else with the condition as written;
 *  2. Grafana's template service replaces `$var`, `${var}`, `${var:format}` and the built-in variables
 *     (`$__from`, `$__to`, `$__interval`, `$__interval_ms`, `$__range_s`, `$__range_ms`); a name it does not
 *     know stays as written (so `$__timeFilter` or `$__interval_s` pass through to step 3). A variable
 *     without a format goes through the plugin's own formatter: a list becomes `'a','b'`, a single value
 *     is inserted raw. Use `${var:singlequote}` for values inside SQL;
 *  3. the plugin's back end expands its macros (`$__timeFilter`, `$__timeInterval`, `$__fromTime`, …),
 *     innermost first, never inside string literals or comments.
 *
 * The built-in dashboard runs panels through this same code, and the dashboard tests check it against
 * the plugin's own test vectors (test/dashboards/fixtures/macro_expansion_vectors.v4.20.0.json).
 * What it does not do: ad hoc filters (none are used), `$__adHocFilters`, `$__table`/`$__column`,
 * date formats of `${__from:date}`, and the statement macros released after 4.20.0 (`$__columns`, `$__lttb`).
 */

export interface TimeRange {
  from: Date;
  to: Date;
}

/** A dashboard variable as Grafana holds it at query time. */
export interface TemplateVariable {
  name: string;
  /** What is selected: one value, a list (multi-value variables), or `'$__all'` / `['$__all']` for "All". */
  current: string | string[];
  /** Every option the variable offers (what "All" expands to when there is no custom all value). */
  options: string[];
  /** A custom "All" value (Grafana's `allValue`): inserted as is, unformatted. */
  allValue?: string | null;
}

export interface ExpandContext {
  range: TimeRange;
  /** The panel interval in milliseconds (Grafana computes it from the range and the panel width). */
  intervalMs: number;
  variables?: readonly TemplateVariable[];
}

export class MacroError extends Error {
  override readonly name = 'MacroError';
}

export const ALL = '$__all';

/** Runs all three steps. */
export function expandPanelSql(sql: string, ctx: ExpandContext): string {
  const vars = ctx.variables ?? [];
  return expandMacros(interpolateVariables(applyConditionalAll(sql, vars), ctx), ctx);
}

// ---------------------------------------------------------------------------------------------
// Step 1: $__conditionalAll (the plugin's front end).

/**
 * The plugin's argument splitter: from the `(` after the macro name, split on commas at depth 1 until the
 * matching `)`. Arguments keep their spaces; quotes are not special (as in the plugin).
 */
function frontEndMacroArgs(sql: string, openParen: number): string[] | undefined {
  const args: string[] = [];
  let depth = 0;
  let start = openParen + 1;
  for (let i = openParen; i < sql.length; i++) {
    const c = sql[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    if (c === ',' && depth === 1) {
      args.push(sql.slice(start, i));
      start = i + 1;
    }
    if (depth === 0) {
      args.push(sql.slice(start, i));
      return args;
    }
  }
  return undefined;
}

export function applyConditionalAll(sql: string, variables: readonly TemplateVariable[]): string {
  const macro = '$__conditionalAll(';
  let out = sql;
  let at = out.lastIndexOf(macro);
  while (at !== -1) {
    const args = frontEndMacroArgs(out, at + macro.length - 1);
    if (!args || args.length !== 2) return out;
    const [cond, varArg] = args as [string, string];
    const m = /(?<=\$\{)\w+(?=\})|(?<=\$)\w+/.exec(varArg.trim());
    let phrase = cond;
    if (m) {
      const v = variables.find((x) => x.name === m[0]);
      if (v) {
        const value = Array.isArray(v.current) ? v.current.join(',') : v.current;
        if (value === '' || value === ALL) phrase = '1=1';
      }
    }
    // A string replacement, like the plugin's (so `$&`-style patterns in a condition would behave as there).
    out = out.replace(`${macro}${cond},${varArg})`, phrase);
    at = out.lastIndexOf(macro);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Step 2: template variables (Grafana's template service with the plugin's default formatter).

const VARIABLE = /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}/g;

type Formatter = (value: string | string[]) => string;

const FORMATS: Record<string, Formatter> = {
  singlequote: (v) => (Array.isArray(v) ? v : [v]).map((s) => `'${s.replace(/'/g, "\\'")}'`).join(','),
  doublequote: (v) => (Array.isArray(v) ? v : [v]).map((s) => `"${s.replace(/"/g, '\\"')}"`).join(','),
  sqlstring: (v) => (Array.isArray(v) ? v : [v]).map((s) => `'${s.replace(/'/g, "''")}'`).join(','),
  csv: (v) => (Array.isArray(v) ? v.join(',') : v),
  pipe: (v) => (Array.isArray(v) ? v.join('|') : v),
  raw: (v) => (Array.isArray(v) ? v.join(',') : v),
};

/** The plugin's formatter for a variable used without an explicit format. */
const pluginFormat: Formatter = (v) => (Array.isArray(v) ? `'${v.join("','")}'` : v);

/** Grafana's rounding of a millisecond interval to its text form (`1m`, `30s`, `1h`, `1d`…). */
export function intervalText(ms: number): string {
  const units: [string, number][] = [['y', 31_536_000_000], ['w', 604_800_000], ['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]];
  for (const [u, size] of units) if (ms >= size && ms % size === 0) return `${ms / size}${u}`;
  return `${ms}ms`;
}

function builtin(name: string, ctx: ExpandContext): string | undefined {
  const from = ctx.range.from.getTime();
  const to = ctx.range.to.getTime();
  switch (name) {
    case '__from': return String(from);
    case '__to': return String(to);
    case '__interval': return intervalText(ctx.intervalMs);
    case '__interval_ms': return String(ctx.intervalMs);
    case '__range_ms': return String(to - from);
    case '__range_s': return String(Math.round((to - from) / 1000));
    default: return undefined;
  }
}

export function interpolateVariables(sql: string, ctx: ExpandContext): string {
  const vars = ctx.variables ?? [];
  return sql.replace(VARIABLE, (match: string, v1?: string, v2?: string, f2?: string, v3?: string, _path?: string, f3?: string) => {
    const name = v1 ?? v2 ?? v3 ?? '';
    const format = f2 ?? f3;
    const b = builtin(name, ctx);
    if (b !== undefined) return b;
    const v = vars.find((x) => x.name === name);
    if (!v) return match;
    const isAll = Array.isArray(v.current) ? v.current.includes(ALL) : v.current === ALL;
    if (isAll && v.allValue) return v.allValue;
    const value = isAll ? [...v.options] : v.current;
    const formatter = format === undefined ? pluginFormat : FORMATS[format.split(':')[0] ?? ''];
    if (!formatter) throw new MacroError(`variable format "${format}" is not supported by this expander`);
    return formatter(value);
  });
}

// ---------------------------------------------------------------------------------------------
// Step 3: the plugin's back-end macros (pkg/macros).

type Handler = (args: string[], ctx: ExpandContext) => string;

const unix = (d: Date): number => Math.floor(d.getTime() / 1000);
const dt = (d: Date): string => `toDateTime(${unix(d)})`;
const dt64 = (d: Date): string => `fromUnixTimestamp64Milli(${Math.floor(d.getTime())})`;
const date = (d: Date): string => `toDate('${d.toISOString().slice(0, 10)}')`;
const seconds = (ctx: ExpandContext): number => Math.trunc(Math.max(ctx.intervalMs / 1000, 1));

/** The arguments of `macro`, which takes exactly `n`; a MacroError otherwise. */
function want(macro: string, args: string[], n: 1): [string];
function want(macro: string, args: string[], n: 2): [string, string];
function want(macro: string, args: string[], n: number): string[] {
  if (args.length !== n) throw new MacroError(`${macro} expected ${n} argument(s), received ${args.length}`);
  return args;
}

/** Go's time.ParseDuration, as `$__timeGroup` uses it; returns milliseconds. */
export function parseGoDuration(text: string): number {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const m = /^([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/.exec(text);
  if (!m) {
    if (text === '0') return 0;
    throw new MacroError(`invalid duration "${text}"`);
  }
  let total = 0;
  for (const [, amount, unit = ''] of text.replace(/^[+-]/, '').matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) total += Number(amount) * (units[unit] ?? 0);
  return m[1] === '-' ? -total : total;
}

const dateTimeFilter: Handler = (a, c) => {
  want('$__dateTimeFilter', a, 2);
  return `(${a[0]} >= ${date(c.range.from)} AND ${a[0]} <= ${date(c.range.to)}) AND (${a[1]} >= ${dt(c.range.from)} AND ${a[1]} <= ${dt(c.range.to)})`;
};

const MACROS: Record<string, Handler> = {
  fromTime: (_a, c) => dt(c.range.from),
  toTime: (_a, c) => dt(c.range.to),
  fromTime_ms: (_a, c) => dt64(c.range.from),
  toTime_ms: (_a, c) => dt64(c.range.to),
  timeFilter: (a, c) => {
    want('$__timeFilter', a, 1);
    return `${a[0]} >= ${dt(c.range.from)} AND ${a[0]} <= ${dt(c.range.to)}`;
  },
  timeFilter_ms: (a, c) => {
    want('$__timeFilter_ms', a, 1);
    return `${a[0]} >= ${dt64(c.range.from)} AND ${a[0]} <= ${dt64(c.range.to)}`;
  },
  dateFilter: (a, c) => {
    want('$__dateFilter', a, 1);
    return `${a[0]} >= ${date(c.range.from)} AND ${a[0]} <= ${date(c.range.to)}`;
  },
  dateTimeFilter,
  timeInterval: (a, c) => {
    want('$__timeInterval', a, 1);
    return `toStartOfInterval(toDateTime(${a[0]}), INTERVAL ${seconds(c)} second)`;
  },
  timeInterval_ms: (a, c) => {
    want('$__timeInterval_ms', a, 1);
    return `toStartOfInterval(toDateTime64(${a[0]}, 3), INTERVAL ${Math.trunc(Math.max(c.intervalMs, 1))} millisecond)`;
  },
  interval_s: (_a, c) => String(seconds(c)),
  timeFrom: (a, c) => {
    want('$__timeFrom', a, 1);
    return `${a[0]} >= ${dt(c.range.from)}`;
  },
  timeTo: (a, c) => {
    want('$__timeTo', a, 1);
    return `${a[0]} <= ${dt(c.range.to)}`;
  },
  timeGroup: (a) => {
    const [column, interval] = want('$__timeGroup', a, 2);
    const period = interval.trim().replace(/^['"]+|['"]+$/g, '');
    const secs = Math.round(parseGoDuration(period) / 1000);
    if (secs <= 0) throw new MacroError(`$__timeGroup: interval must be positive, got "${period}"`);
    return `toStartOfInterval(toDateTime(${column.trim()}), INTERVAL ${secs} second)`;
  },
};
MACROS.dt = dateTimeFilter;

/** Index just past a string literal / quoted identifier starting at `i` (ClickHouse: `\` escapes and doubled quotes). */
function skipQuoted(sql: string, i: number): number {
  const q = sql[i];
  let j = i + 1;
  while (j < sql.length) {
    const c = sql[j];
    if (c === '\\') {
      j += 2;
      continue;
    }
    if (c === q) {
      if (sql[j + 1] === q) {
        j += 2;
        continue;
      }
      return j + 1;
    }
    j++;
  }
  return sql.length;
}

/** Index just past a comment starting at `i`, or `i` when there is none. */
function skipComment(sql: string, i: number): number {
  if (sql.startsWith('--', i)) {
    const nl = sql.indexOf('\n', i);
    return nl === -1 ? sql.length : nl;
  }
  if (sql.startsWith('/*', i)) {
    const end = sql.indexOf('*/', i + 2);
    return end === -1 ? sql.length : end + 2;
  }
  return i;
}

/** Splits a macro's arguments: from the `(` at `open`, at top-level commas, to the matching `)`. */
function backEndMacroArgs(sql: string, open: number): { args: string[]; end: number } {
  const args: string[] = [];
  let depth = 0;
  let start = open + 1;
  let i = open;
  while (i < sql.length) {
    const c = sql.charAt(i);
    if (c === "'" || c === '"' || c === '`') {
      i = skipQuoted(sql, i);
      continue;
    }
    if (c === '(') depth++;
    else if (c === ')') {
      depth--;
      if (depth === 0) {
        args.push(sql.slice(start, i));
        return { args: args.length === 1 && args.join('').trim() === '' ? [] : args, end: i + 1 };
      }
    } else if (c === ',' && depth === 1) {
      args.push(sql.slice(start, i));
      start = i + 1;
    }
    i++;
  }
  throw new MacroError(`unbalanced parentheses after ${sql.slice(Math.max(0, open - 20), open)}`);
}

export function expandMacros(sql: string, ctx: ExpandContext): string {
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const c = sql.charAt(i);
    if (c === "'" || c === '"' || c === '`') {
      const j = skipQuoted(sql, i);
      out += sql.slice(i, j);
      i = j;
      continue;
    }
    const k = skipComment(sql, i);
    if (k !== i) {
      out += sql.slice(i, k);
      i = k;
      continue;
    }
    if (c === '$' && sql.startsWith('$__', i)) {
      const m = /^\$__(\w+)/.exec(sql.slice(i));
      const name = m?.[1] ?? '';
      const handler = MACROS[name];
      if (m && handler) {
        let end = i + m[0].length;
        let args: string[] = [];
        if (sql[end] === '(') {
          const parsed = backEndMacroArgs(sql, end);
          args = parsed.args.map((a) => expandMacros(a, ctx).trim());
          end = parsed.end;
        }
        out += handler(args, ctx);
        i = end;
        continue;
      }
    }
    out += c;
    i++;
  }
  return out;
}
