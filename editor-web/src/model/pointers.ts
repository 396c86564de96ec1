// Problems by JSON pointer (RFC 6901), as the server's 422 problems carry them
// (`errors: [{pointer, message}]`) and as the client-side checks below report them, so a
// form can show both next to the field they belong to.

export interface PointerProblem { pointer: string; message: string }

/** A pointer from path segments: `['stage_rules', 1, 'to']` → `/stage_rules/1/to`. */
export function pointerOf(parts: (string | number)[]): string {
  return parts.map((p) => '/' + String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}

/** The messages reported exactly at `pointer`. */
export function problemsAt(list: readonly PointerProblem[] | undefined, pointer: string): string[] {
  return (list ?? []).filter((p) => p.pointer === pointer).map((p) => p.message);
}

/** The problems at or below `prefix`, with pointers made relative to it (`/condition/all/0` → `/all/0`). */
export function problemsUnder(list: readonly PointerProblem[] | undefined, prefix: string): PointerProblem[] {
  const out: PointerProblem[] = [];
  for (const p of list ?? []) {
    if (p.pointer === prefix) out.push({ pointer: '', message: p.message });
    else if (p.pointer.startsWith(prefix + '/')) out.push({ pointer: p.pointer.slice(prefix.length), message: p.message });
  }
  return out;
}
