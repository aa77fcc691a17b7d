/**
 * Function lengths, measured with the TypeScript compiler API: every function declaration, method,
 * accessor, constructor, function expression and arrow function in the non-test TypeScript files, with
 * its file, a name and its length in lines (first line to last, both counted; a nested function counts
 * inside its parent too). `test/unit/function-lengths.test.ts` keeps the long ones from growing;
 * `npx tsx test/support/function-lengths.ts [limit]` prints the ones over a limit (80 by default).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** The repository root. */
export const ROOT = path.resolve(import.meta.dirname, '../..');

const SKIP_DIRS = new Set(['node_modules', 'data', 'test', 'docs', 'dashboards/public/vendor']);

/** One function: where it is, what it is called and how many lines it spans. */
export interface FunctionLength {
  /** The file, relative to the repository root, with forward slashes. */
  readonly file: string;
  /**
   * A readable name, stable when lines move: `f`, `Class.method`, `outer/inner`; an anonymous function is
   * named by the call it is passed to, `outer/(arrow in map)`; a name used twice in a file gets `#2`, `#3`.
   */
  readonly name: string;
  /** The first line, 1-based. */
  readonly line: number;
  /** Lines from the first to the last, both counted. */
  readonly lines: number;
}

/** The TypeScript files outside test/, node_modules, data and the vendored dashboard code, sorted. */
export function sourceFiles(dir = ''): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = dir ? `${dir}/${entry.name}` : entry.name;
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(rel) && !entry.name.startsWith('.') && entry.name !== 'node_modules') out.push(...sourceFiles(rel));
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(rel);
  }
  return out.sort();
}

function propertyName(name: ts.PropertyName | ts.BindingName | undefined, sf: ts.SourceFile): string | undefined {
  if (!name) return undefined;
  if (ts.isIdentifier(name) || ts.isPrivateIdentifier(name) || ts.isStringLiteral(name) || ts.isNumericLiteral(name)) return name.text;
  return name.getText(sf);
}

/** The name a function is known by where it is written, or undefined for an anonymous one. */
function ownName(node: ts.FunctionLikeDeclaration, sf: ts.SourceFile): string | undefined {
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  if (ts.isGetAccessorDeclaration(node)) return `get ${propertyName(node.name, sf)}`;
  if (ts.isSetAccessorDeclaration(node)) return `set ${propertyName(node.name, sf)}`;
  if (node.name) return propertyName(node.name, sf);
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) return propertyName(parent.name, sf);
  if (ts.isBinaryExpression(parent) && parent.operatorToken.kind === ts.SyntaxKind.EqualsToken) return parent.left.getText(sf);
  return undefined;
}

/** The functions of one source text. */
export function functionLengthsOf(file: string, text: string): FunctionLength[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: FunctionLength[] = [];
  const lineOf = (pos: number): number => sf.getLineAndCharacterOfPosition(pos).line + 1;
  const visit = (node: ts.Node, scope: string[]): void => {
    if (ts.isClassLike(node)) {
      const name = node.name?.text ?? `(class at line ${lineOf(node.getStart(sf))})`;
      ts.forEachChild(node, (child) => visit(child, [...scope, name]));
      return;
    }
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const fn = node as ts.FunctionLikeDeclaration;
      const first = lineOf(fn.getStart(sf));
      const own = ownName(fn, sf) ?? anonymousName(fn);
      const names = ts.isClassLike(fn.parent) ? [...scope.slice(0, -1), `${scope[scope.length - 1]}.${own}`] : [...scope, own];
      out.push({ file, name: names.join('/'), line: first, lines: lineOf(fn.getEnd()) - first + 1 });
      ts.forEachChild(node, (child) => visit(child, names));
      return;
    }
    ts.forEachChild(node, (child) => visit(child, scope));
  };
  visit(sf, []);
  const seen = new Map<string, number>();
  return out.map((f) => {
    const n = (seen.get(f.name) ?? 0) + 1;
    seen.set(f.name, n);
    return n === 1 ? f : { ...f, name: `${f.name}#${n}` };
  });
}

/** `(arrow in map)` for `xs.map((x) => …)`, `(function)` when it is not an argument of a call. */
function anonymousName(fn: ts.FunctionLikeDeclaration): string {
  const kind = ts.isArrowFunction(fn) ? 'arrow' : 'function';
  let callee: ts.Expression | undefined;
  if (ts.isCallExpression(fn.parent) || ts.isNewExpression(fn.parent)) callee = fn.parent.expression;
  if (!callee) return `(${kind})`;
  const name = ts.isPropertyAccessExpression(callee) ? callee.name.text : ts.isIdentifier(callee) ? callee.text : undefined;
  return name ? `(${kind} in ${name})` : `(${kind})`;
}

/** Every function of the non-test TypeScript files, longest first (then by file and line). */
export function functionLengths(): FunctionLength[] {
  return sourceFiles()
    .flatMap((file) => functionLengthsOf(file, fs.readFileSync(path.join(ROOT, file), 'utf8')))
    .sort((a, b) => b.lines - a.lines || a.file.localeCompare(b.file) || a.line - b.line);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const limit = Number(process.argv[2] ?? 80);
  const long = functionLengths().filter((f) => f.lines > limit);
  for (const f of long) console.log(`${String(f.lines).padStart(4)}  ${f.file}:${f.line}  ${f.name}`);
  console.log(`${long.length} functions over ${limit} lines`);
}
