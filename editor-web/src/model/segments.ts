// A segment in the builder: its id from the name, the problems of the form by pointer
// (as the server's 422 carries them: `/id`, `/name`, `/condition/all/0/right`), whether
// the condition is complete enough to preview, and the size-over-time series.
import { conditionProblems } from './history';
import { pointerOf, type PointerProblem } from './pointers';
import type { SizePoint } from '../api';

export const SEGMENT_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** `Inactive for 30 days!` → `inactive-for-30-days`. */
export function segmentIdFrom(name: string): string {
  return name.toLowerCase().normalize('NFKD').replace(/[\u0300-\u036f]/g, '').replace(/[^a-z0-9_-]+/g, '-').replace(/^[-_]+|-+$/g, '').slice(0, 64);
}

export interface SegmentDraft { id: string; name: string; description: string; condition: unknown }

/** What a new segment starts with: contacts who purchased at least once in the last 30 days. */
export function newSegmentDraft(): SegmentDraft {
  return { id: '', name: '', description: '', condition: { all: [{ performed: '', measure: 'count', within_last: '30d', op: 'gte', right: 1 }] } };
}

/** The form's problems. `isNew`: the id is still to be chosen (`new` is the builder's own address). */
export function segmentProblems(d: SegmentDraft, isNew: boolean): PointerProblem[] {
  const out: PointerProblem[] = [];
  if (isNew) {
    if (d.id === '') out.push({ pointer: '/id', message: 'give the segment an id (it is filled in from the name)' });
    else if (!SEGMENT_ID_PATTERN.test(d.id)) out.push({ pointer: '/id', message: 'lowercase letters, digits, - and _ (at most 64), starting with a letter or digit' });
    else if (d.id === 'new') out.push({ pointer: '/id', message: '“new” is taken by the editor: choose another id' });
  }
  if (d.name.trim() === '') out.push({ pointer: '/name', message: 'name the segment' });
  for (const p of conditionProblems(d.condition, { allowHistory: true })) out.push({ pointer: pointerOf(['condition']) + p.pointer, message: p.message });
  return out;
}

/** Whether the condition can be previewed (no problems the editor already knows of). */
export function canPreview(condition: unknown): boolean {
  return conditionProblems(condition, { allowHistory: true }).length === 0;
}

/** The body of POST / PUT: the description only when there is one. */
export function segmentBody(d: SegmentDraft, isNew: boolean): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  if (isNew) body.id = d.id;
  body.name = d.name.trim();
  if (d.description.trim()) body.description = d.description.trim();
  body.condition = d.condition;
  return body;
}

/** Size points sorted by time, for the size-over-time chart. */
export function sizeSeries(points: SizePoint[]): { at: string; size: number; entered: number; exited: number }[] {
  return [...points].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
}

/** "≈ 1,234 contacts". */
export function sizeText(n: number): string {
  return `≈ ${n.toLocaleString('en-US')} contact${n === 1 ? '' : 's'}`;
}
