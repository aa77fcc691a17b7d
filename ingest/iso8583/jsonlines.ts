/**
 * Lines of the keys and array items of a JSON document, so that a configuration error can name the
 * line it is about. Only for text that `JSON.parse` accepted.
 */

/** Dotted path (`tables.processingCodes.20`, array items by index) → 1-based line of the key or item. */
export function jsonKeyLines(text: string): Map<string, number> {
  const lines = new Map<string, number>();
  let i = 0;
  let line = 1;
  const ws = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) {
      if (text[i] === '\n') line++;
      i++;
    }
  };
  const str = (): string => {
    const start = i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const container = (path: string, close: string, item: (n: number) => string): void => {
    i++;
    ws();
    if (text[i] === close) {
      i++;
      return;
    }
    for (let n = 0; i < text.length; n++) {
      ws();
      const p = item(n);
      value(p);
      ws();
      if (text[i++] !== ',') return;
    }
    void path;
  };
  const value = (path: string): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      container(path, '}', () => {
        const at = line;
        const p = path ? `${path}.${str()}` : str();
        lines.set(p, at);
        ws();
        i++; // the colon
        return p;
      });
    } else if (c === '[') {
      container(path, ']', (n) => {
        const p = `${path}.${n}`;
        lines.set(p, line);
        return p;
      });
    } else if (c === '"') str();
    else while (i < text.length && !',]} \t\r\n'.includes(text.charAt(i))) i++;
  };
  value('');
  return lines;
}

/**
 * The line for an error's location: a field number (`35`), a sub-field (`127.3`), or a dotted path
 * (`options.trailer`, `tables.processingCodes.20`); the deepest part of the path that has a line.
 */
export function lineOf(lines: Map<string, number>, location: string): number | undefined {
  const [head = '', ...rest] = location.split('.');
  const path: string[] = [];
  if (/^\d+$/.test(head)) {
    path.push('fields', head);
    for (const p of rest) path.push(...(/^\d+$/.test(p) ? ['subfields', 'fields', p] : [p]));
  } else path.push(head, ...rest);
  for (let n = path.length; n > 0; n--) {
    const at = lines.get(path.slice(0, n).join('.'));
    if (at !== undefined) return at;
  }
  return undefined;
}
