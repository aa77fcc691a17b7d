/**
 * The panel SQL expander against the ClickHouse plugin's own test vectors (v4.20.0), and the front-end
 * steps (`$__conditionalAll`, template variables) as the plugin and Grafana do them.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALL, MacroError, applyConditionalAll, expandMacros, expandPanelSql, interpolateVariables, parseGoDuration, type ExpandContext, type TemplateVariable } from '../../dashboards/expand.js';

interface Range { from: string; to: string }
interface Vectors {
  interpolate_vectors: { name: string; input: string; output: string; time_range: Range; panel_interval?: string }[];
  single_macro_vectors: { macro: string; args: string[]; output: string; time_range?: Range; interval?: string }[];
}
const vectors = JSON.parse(readFileSync(path.join(import.meta.dirname, 'fixtures/macro_expansion_vectors.v4.20.0.json'), 'utf8')) as Vectors;

const ctx = (range?: Range, interval = '1m'): ExpandContext => ({
  range: { from: new Date(range?.from ?? '2014-11-12T11:45:26.371Z'), to: new Date(range?.to ?? '2015-11-12T11:45:26.371Z') },
  intervalMs: parseGoDuration(interval.split(' ')[0]!),
});

describe('plugin macros (pkg/macros, v4.20.0 vectors)', () => {
  for (const v of vectors.interpolate_vectors) {
    it(v.name, () => {
      expect(expandMacros(v.input, ctx(v.time_range, v.panel_interval ?? '1m'))).toBe(v.output);
    });
  }
  for (const [i, v] of vectors.single_macro_vectors.entries()) {
    const call = v.args.length ? `${v.macro}(${v.args.join(', ')})` : v.macro;
    it(`${i}: ${call}`, () => {
      const c = ctx(v.time_range, v.interval ?? '1m');
      if (v.output.startsWith('ERROR')) expect(() => expandMacros(call, c)).toThrow(MacroError);
      else expect(expandMacros(call, c)).toBe(v.output);
    });
  }
  it('covers every vector of the file', () => {
    expect(vectors.interpolate_vectors.length + vectors.single_macro_vectors.length).toBe(30);
  });
  it('leaves unknown macros, string literals and comments alone', () => {
    const c = ctx();
    expect(expandMacros('SELECT $__unknown(x), \'$__fromTime\' -- $__toTime\n/* $__toTime */ FROM t', c)).toBe('SELECT $__unknown(x), \'$__fromTime\' -- $__toTime\n/* $__toTime */ FROM t');
    expect(expandMacros('$__timeFilter(a) AND $__timeFilter_ms(b)', c)).toBe(
      'a >= toDateTime(1415792726) AND a <= toDateTime(1447328726) AND b >= fromUnixTimestamp64Milli(1415792726371) AND b <= fromUnixTimestamp64Milli(1447328726371)');
    expect(expandMacros('$__dt(d, t)', c)).toBe(expandMacros('$__dateTimeFilter(d, t)', c));
    expect(expandMacros("$__timeGroup(ts, '90s')", c)).toBe('toStartOfInterval(toDateTime(ts), INTERVAL 90 second)');
    expect(expandMacros('$__interval_s', { ...c, intervalMs: 500 })).toBe('1');
  });
});

const vars = (current: TemplateVariable['current'], options = ['B01', 'B02', "O'Hara"]): TemplateVariable[] => [{ name: 'branch', current, options }];

describe('front end: $__conditionalAll and template variables', () => {
  const sql = 'SELECT 1 WHERE $__conditionalAll(branch_id IN (${branch:singlequote}), $branch) AND x';
  it('becomes 1=1 when "All" (or nothing) is selected', () => {
    expect(applyConditionalAll(sql, vars([ALL]))).toBe('SELECT 1 WHERE 1=1 AND x');
    expect(applyConditionalAll(sql, vars(ALL))).toBe('SELECT 1 WHERE 1=1 AND x');
    expect(applyConditionalAll(sql, vars([]))).toBe('SELECT 1 WHERE 1=1 AND x');
  });
  it('keeps the condition, as written, for a selection', () => {
    expect(applyConditionalAll(sql, vars(['B01']))).toBe('SELECT 1 WHERE branch_id IN (${branch:singlequote}) AND x');
    expect(applyConditionalAll('$__conditionalAll(a IN (${branch:singlequote}), ${branch})', vars(['B01']))).toBe('a IN (${branch:singlequote})');
  });
  it('expands nested and repeated uses, last first', () => {
    const two = '$__conditionalAll(a = 1, $branch) OR $__conditionalAll(b IN (SELECT x FROM t WHERE y IN (${branch:singlequote})), $branch)';
    expect(applyConditionalAll(two, vars([ALL]))).toBe('1=1 OR 1=1');
    expect(applyConditionalAll(two, vars(['B02']))).toBe('a = 1 OR b IN (SELECT x FROM t WHERE y IN (${branch:singlequote}))');
  });
  it('formats values like Grafana (singlequote escapes quotes) and the plugin (no format: quoted list)', () => {
    const c = { ...ctx(), variables: vars(['B01', "O'Hara"]) };
    expect(interpolateVariables("IN (${branch:singlequote})", c)).toBe("IN ('B01','O\\'Hara')");
    expect(interpolateVariables('IN ($branch)', c)).toBe("IN ('B01','O'Hara')");
    expect(interpolateVariables('${branch:csv} ${branch:pipe} ${branch:sqlstring}', c)).toBe("B01,O'Hara B01|O'Hara 'B01','O''Hara'");
    expect(interpolateVariables('$branch', { ...ctx(), variables: vars('B02') })).toBe('B02');
    expect(interpolateVariables('${branch:singlequote}', { ...ctx(), variables: vars([ALL], ['a', 'b']) })).toBe("'a','b'");
    expect(interpolateVariables('$branch', { ...ctx(), variables: [{ name: 'branch', current: [ALL], options: ['a'], allValue: '.*' }] })).toBe('.*');
  });
  it('replaces Grafana built-ins but not the plugin macros that look like them', () => {
    const c = { ...ctx(), intervalMs: 60_000 };
    expect(interpolateVariables('$__from $__to $__interval $__interval_ms $__range_s $__interval_s $__fromTime $unknown', c))
      .toBe('1415792726371 1447328726371 1m 60000 31536000 $__interval_s $__fromTime $unknown');
  });
  it('runs the three steps in the plugin\'s order', () => {
    const c = { ...ctx(), intervalMs: 3_600_000, variables: vars(['B01']) };
    expect(expandPanelSql('SELECT $__timeInterval(t) AS time FROM x WHERE $__timeFilter(t) AND $__conditionalAll(b IN (${branch:singlequote}), $branch)', c))
      .toBe("SELECT toStartOfInterval(toDateTime(t), INTERVAL 3600 second) AS time FROM x WHERE t >= toDateTime(1415792726) AND t <= toDateTime(1447328726) AND b IN ('B01')");
  });
});
