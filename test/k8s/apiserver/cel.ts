/**
 * The subset of CEL that CRD validation rules (x-kubernetes-validations) are written in, for the API server
 * double: literals, `self` / `oldSelf`, field and index access, `has()`, `size()`, string methods
 * (startsWith, endsWith, contains, matches), `in`, arithmetic, comparisons, `!`, `&&`, `||` (both
 * commutative over errors, as CEL's are) and `?:`. Not supported (a rule using them fails with a clear
 * error, never passes silently): macros over lists (all, exists, map, filter), quantity and duration
 * functions, messageExpression.
 */

type Value = unknown;

class CelError extends Error {}

interface Token {
  kind: 'num' | 'str' | 'id' | 'op' | 'end';
  text: string;
  value?: Value;
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const num = /^\d+(\.\d+)?/.exec(src.slice(i));
    if (num) {
      out.push({ kind: 'num', text: num[0], value: Number(num[0]) });
      i += num[0].length;
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      let s = '';
      while (j < src.length && src[j] !== c) {
        if (src[j] === '\\') j++;
        s += src[j];
        j++;
      }
      out.push({ kind: 'str', text: src.slice(i, j + 1), value: s });
      i = j + 1;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
    if (id) {
      out.push({ kind: 'id', text: id[0] });
      i += id[0].length;
      continue;
    }
    const op = /^(&&|\|\||==|!=|<=|>=|[!<>+\-*/%?:.,()[\]])/.exec(src.slice(i));
    if (!op) throw new CelError(`Syntax error: unexpected character '${c}'`);
    out.push({ kind: 'op', text: op[0] });
    i += op[0].length;
  }
  out.push({ kind: 'end', text: '' });
  return out;
}

type Node = (env: Record<string, Value>) => Value;

const isMap = (v: Value): v is Record<string, Value> => typeof v === 'object' && v !== null && !Array.isArray(v);

function equal(a: Value, b: Value): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => equal(x, b[i]));
  if (isMap(a) && isMap(b)) return Object.keys(a).length === Object.keys(b).length && Object.keys(a).every((k) => k in b && equal(a[k], b[k]));
  return a === b;
}

function size(v: Value): number {
  if (typeof v === 'string') return [...v].length;
  if (Array.isArray(v)) return v.length;
  if (isMap(v)) return Object.keys(v).length;
  throw new CelError('no such overload: size');
}

class Parser {
  private pos = 0;
  constructor(private readonly toks: Token[]) {}

  private peek(): Token {
    return this.toks[this.pos]!;
  }

  private eat(text?: string): Token {
    const t = this.toks[this.pos]!;
    if (text !== undefined && t.text !== text) throw new CelError(`Syntax error: expected '${text}', found '${t.text || 'end of rule'}'`);
    this.pos++;
    return t;
  }

  parse(): Node {
    const n = this.ternary();
    if (this.peek().kind !== 'end') throw new CelError(`Syntax error: unexpected '${this.peek().text}'`);
    return n;
  }

  private ternary(): Node {
    const cond = this.or();
    if (this.peek().text !== '?') return cond;
    this.eat('?');
    const a = this.ternary();
    this.eat(':');
    const b = this.ternary();
    return (env) => (cond(env) === true ? a(env) : b(env));
  }

  /** `||` and `&&` absorb an error on one side when the other side decides the result, as CEL does. */
  private logical(op: '||' | '&&', next: () => Node): Node {
    let left = next();
    while (this.peek().text === op) {
      this.eat();
      const l = left;
      const r = next();
      const decisive = op === '||';
      left = (env) => {
        let errL: unknown;
        let vl: Value;
        try {
          vl = l(env);
          if (vl === decisive) return decisive;
        } catch (e) {
          errL = e;
        }
        const vr = r(env);
        if (vr === decisive) return decisive;
        if (errL) throw errL;
        if (typeof vl !== 'boolean' || typeof vr !== 'boolean') throw new CelError(`no such overload: ${op}`);
        return !decisive;
      };
    }
    return left;
  }

  private or(): Node {
    return this.logical('||', () => this.and());
  }

  private and(): Node {
    return this.logical('&&', () => this.relation());
  }

  private relation(): Node {
    let left = this.additive();
    for (;;) {
      const t = this.peek().text;
      if (!['==', '!=', '<', '<=', '>', '>=', 'in'].includes(t)) return left;
      this.eat();
      const l = left;
      const r = this.additive();
      left = (env) => {
        const a = l(env);
        const b = r(env);
        switch (t) {
          case '==':
            return equal(a, b);
          case '!=':
            return !equal(a, b);
          case 'in':
            if (Array.isArray(b)) return b.some((x) => equal(x, a));
            if (isMap(b)) return typeof a === 'string' && a in b;
            throw new CelError('no such overload: in');
          default: {
            if (typeof a !== typeof b || (typeof a !== 'number' && typeof a !== 'string')) throw new CelError(`no such overload: ${t}`);
            const x = a as number;
            const y = b as number;
            return t === '<' ? x < y : t === '<=' ? x <= y : t === '>' ? x > y : x >= y;
          }
        }
      };
    }
  }

  private additive(): Node {
    let left = this.multiplicative();
    while (this.peek().text === '+' || this.peek().text === '-') {
      const t = this.eat().text;
      const l = left;
      const r = this.multiplicative();
      left = (env) => {
        const a = l(env);
        const b = r(env);
        if (t === '+' && typeof a === 'string' && typeof b === 'string') return a + b;
        if (t === '+' && Array.isArray(a) && Array.isArray(b)) return [...a, ...b];
        if (typeof a !== 'number' || typeof b !== 'number') throw new CelError(`no such overload: ${t}`);
        return t === '+' ? a + b : a - b;
      };
    }
    return left;
  }

  private multiplicative(): Node {
    let left = this.unary();
    while (['*', '/', '%'].includes(this.peek().text)) {
      const t = this.eat().text;
      const l = left;
      const r = this.unary();
      left = (env) => {
        const a = l(env);
        const b = r(env);
        if (typeof a !== 'number' || typeof b !== 'number') throw new CelError(`no such overload: ${t}`);
        if ((t === '/' || t === '%') && b === 0) throw new CelError('division by zero');
        return t === '*' ? a * b : t === '/' ? Math.trunc(a / b) : a % b;
      };
    }
    return left;
  }

  private unary(): Node {
    if (this.peek().text === '!') {
      this.eat();
      const n = this.unary();
      return (env) => {
        const v = n(env);
        if (typeof v !== 'boolean') throw new CelError('no such overload: !');
        return !v;
      };
    }
    if (this.peek().text === '-') {
      this.eat();
      const n = this.unary();
      return (env) => -(n(env) as number);
    }
    return this.member();
  }

  private member(): Node {
    let node = this.primary();
    for (;;) {
      const t = this.peek().text;
      if (t === '.') {
        this.eat();
        const name = this.eat().text;
        if (this.peek().text === '(') {
          const args = this.args();
          const target = node;
          node = (env) => method(target(env), name, args.map((a) => a(env)));
        } else {
          const target = node;
          node = (env) => {
            const v = target(env);
            if (!isMap(v) || !(name in v)) throw new CelError(`no such key: ${name}`);
            return v[name];
          };
        }
      } else if (t === '[') {
        this.eat();
        const idx = this.ternary();
        this.eat(']');
        const target = node;
        node = (env) => {
          const v = target(env);
          const k = idx(env);
          if (Array.isArray(v) && typeof k === 'number' && k >= 0 && k < v.length) return v[k];
          if (isMap(v) && typeof k === 'string' && k in v) return v[k];
          throw new CelError(`no such key: ${String(k)}`);
        };
      } else return node;
    }
  }

  private args(): Node[] {
    this.eat('(');
    const out: Node[] = [];
    while (this.peek().text !== ')') {
      out.push(this.ternary());
      if (this.peek().text === ',') this.eat();
    }
    this.eat(')');
    return out;
  }

  private primary(): Node {
    const t = this.eat();
    if (t.kind === 'num' || t.kind === 'str') return () => t.value;
    if (t.text === '(') {
      const n = this.ternary();
      this.eat(')');
      return n;
    }
    if (t.text === '[') {
      const items: Node[] = [];
      while (this.peek().text !== ']') {
        items.push(this.ternary());
        if (this.peek().text === ',') this.eat();
      }
      this.eat(']');
      return (env) => items.map((i) => i(env));
    }
    if (t.kind === 'id') {
      if (t.text === 'true') return () => true;
      if (t.text === 'false') return () => false;
      if (t.text === 'null') return () => null;
      if (t.text === 'has') {
        // has(x.f): a presence test on the last selection, never an error for an absent field.
        this.eat('(');
        const start = this.pos;
        let depth = 0;
        while (!(depth === 0 && this.peek().text === ')')) {
          if (this.peek().text === '(') depth++;
          if (this.peek().text === ')') depth--;
          if (this.peek().kind === 'end') throw new CelError("Syntax error: missing ')'");
          this.pos++;
        }
        const inner = this.toks.slice(start, this.pos);
        this.eat(')');
        const dot = inner.length >= 3 ? inner[inner.length - 2] : undefined;
        const field = inner[inner.length - 1];
        if (!dot || dot.text !== '.' || field?.kind !== 'id') throw new CelError('invalid argument to has() macro');
        const target = new Parser([...inner.slice(0, -2), { kind: 'end', text: '' }]).parse();
        return (env) => {
          const v = target(env);
          return isMap(v) && field.text in v && v[field.text] !== null;
        };
      }
      if (t.text === 'size' && this.peek().text === '(') {
        const [a] = this.args();
        return (env) => size(a!(env));
      }
      if (this.peek().text === '(') throw new CelError(`undeclared reference to '${t.text}'`);
      return (env) => {
        if (!(t.text in env)) throw new CelError(`undeclared reference to '${t.text}'`);
        return env[t.text];
      };
    }
    throw new CelError(`Syntax error: unexpected '${t.text}'`);
  }
}

function method(target: Value, name: string, args: Value[]): Value {
  if (name === 'size' && args.length === 0) return size(target);
  if (typeof target === 'string' && typeof args[0] === 'string') {
    if (name === 'startsWith') return target.startsWith(args[0]);
    if (name === 'endsWith') return target.endsWith(args[0]);
    if (name === 'contains') return target.includes(args[0]);
    if (name === 'matches') return new RegExp(args[0]).test(target);
  }
  throw new CelError(`found no matching overload for '${name}'`);
}

const compiled = new Map<string, Node>();

/** Evaluates `rule` with `self` (and `oldSelf` for transition rules): true, false, or throws a CelError. */
export function evalRule(rule: string, env: { self: Value; oldSelf?: Value }): boolean {
  let node = compiled.get(rule);
  if (!node) {
    node = new Parser(tokenize(rule)).parse();
    compiled.set(rule, node);
  }
  const v = node(env as Record<string, Value>);
  if (typeof v !== 'boolean') throw new CelError('rule did not evaluate to a bool');
  return v;
}

export function usesOldSelf(rule: string): boolean {
  return tokenize(rule).some((t) => t.kind === 'id' && t.text === 'oldSelf');
}
