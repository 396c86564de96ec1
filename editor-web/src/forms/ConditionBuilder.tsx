// A condition builder: comparisons (operand, operator, typed value) in nested all/any
// groups, each of which can be negated. Operands are suggested from the catalog.
// With `allowHistory` (segments, lifecycle and scoring rules; never journeys) a row can
// also be a "performed event" leaf: how often / how much / when the contact performed an
// event. Problems are shown on the row they belong to: the leaf's own checks and the
// server's, by pointer relative to the condition (`problems`).
import { useId, useMemo } from 'react';
import { operandOptions, useCatalog } from '../catalog';
import { isObject, isRef, OP_LABELS, OPS, type Json, type Op } from '../model/types';
import {
  historyProblems, isHistoryLeaf, MEASURE_LABELS, MEASURES, newHistoryLeaf, opsFor, PROPERTY_MEASURES,
  TIME_MEASURES, TIME_OP_LABELS, withMeasure, withOp, type Measure,
} from '../model/history';
import { problemsUnder, type PointerProblem } from '../model/pointers';

/** What a condition may read: the trigger's and the awaited event's properties, the run data saved from webhooks (`data.<name>`). */
export interface ConditionScope { trigger?: string; event?: string; data?: string[]; /** Only the contact's values (segments, scoring conditions). */ contactOnly?: boolean }

type Cond = Record<string, unknown>;
type ValueKind = 'text' | 'number' | 'boolean' | 'ref' | 'list' | 'null';

const NO_RIGHT: Op[] = ['exists', 'not_exists'];
const DURATION_OPS: Op[] = ['within_last', 'more_than_ago'];
const LIST_OPS: Op[] = ['in', 'not_in'];

function kindOf(v: unknown): ValueKind {
  if (isRef(v)) return 'ref';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'number') return 'number';
  if (typeof v === 'boolean') return 'boolean';
  if (v === null) return 'null';
  return 'text';
}

function newComparison(): Cond { return { left: '', op: 'eq', right: '' }; }

function Comparison({ value, onChange, scope, path }: { value: Cond; onChange: (c: Cond) => void; scope: ConditionScope; path: string }) {
  const events = useCatalog((s) => s.events);
  const attributes = useCatalog((s) => s.attributes);
  const options = useMemo(() => operandOptions(events, attributes, scope), [events, attributes, scope]);
  const listId = useId();
  const ids = { left: useId(), op: useId(), kind: useId(), right: useId() };
  const op = (OPS as readonly string[]).includes(String(value.op)) ? (value.op as Op) : 'eq';
  const left = typeof value.left === 'string' ? value.left : '';
  const leftType = options.find((o) => o.value === left)?.type;
  const kind = kindOf(value.right);

  const setOp = (next: Op) => {
    const c: Cond = { ...value, op: next };
    if (NO_RIGHT.includes(next)) delete c.right;
    else if (LIST_OPS.includes(next) && !Array.isArray(c.right)) c.right = c.right === undefined || c.right === '' ? [] : [c.right as Json];
    else if (DURATION_OPS.includes(next) && typeof c.right !== 'string') c.right = '30d';
    else if (!LIST_OPS.includes(next) && Array.isArray(c.right)) c.right = c.right[0] ?? '';
    else if (c.right === undefined) c.right = leftType === 'number' ? 0 : '';
    onChange(c);
  };
  const setKind = (k: ValueKind) => {
    const text = isRef(value.right) ? value.right.ref : Array.isArray(value.right) ? value.right.join(', ') : value.right == null ? '' : String(value.right);
    const right: unknown = k === 'number' ? (Number(text) || 0) : k === 'boolean' ? text === 'true' : k === 'ref' ? { ref: text.includes('.') ? text : '' }
      : k === 'list' ? text.split(',').map((s) => s.trim()).filter(Boolean) : k === 'null' ? null : text;
    onChange({ ...value, right });
  };
  const parseItem = (s: string): Json => (leftType === 'number' && s !== '' && !Number.isNaN(Number(s)) ? Number(s) : s);

  let rightInput: React.ReactNode = null;
  if (!NO_RIGHT.includes(op)) {
    if (kind === 'boolean') {
      rightInput = (
        <select id={ids.right} aria-label="Value" value={String(value.right)} onChange={(e) => onChange({ ...value, right: e.target.value === 'true' })}>
          <option value="true">true</option><option value="false">false</option>
        </select>
      );
    } else if (kind === 'number') {
      rightInput = <input id={ids.right} aria-label="Value" type="number" value={Number(value.right)} onChange={(e) => onChange({ ...value, right: Number(e.target.value) })} />;
    } else if (kind === 'ref') {
      rightInput = <input id={ids.right} aria-label="Value (another value of the run)" list={listId} value={isRef(value.right) ? value.right.ref : ''} placeholder="trigger.properties.cart_id" onChange={(e) => onChange({ ...value, right: { ref: e.target.value } })} />;
    } else if (kind === 'list') {
      rightInput = <input id={ids.right} aria-label="Values, separated by commas" value={(value.right as unknown[]).map(String).join(', ')} placeholder="pro, team"
        onChange={(e) => onChange({ ...value, right: e.target.value.split(',').map((s) => s.trim()).filter((s) => s !== '').map(parseItem) })} />;
    } else if (kind === 'null') {
      rightInput = <span className="muted">null</span>;
    } else {
      rightInput = <input id={ids.right} aria-label="Value" value={String(value.right ?? '')} placeholder={DURATION_OPS.includes(op) ? '30d' : 'value'}
        onChange={(e) => onChange({ ...value, right: e.target.value })} />;
    }
  }

  return (
    <div className="cmp" data-testid={`condition-${path}`}>
      <input aria-label="Compare" list={listId} value={left} placeholder="contact.plan" data-testid={`condition-${path}-left`}
        onChange={(e) => {
          const t = options.find((o) => o.value === e.target.value)?.type;
          const c: Cond = { ...value, left: e.target.value };
          if (t === 'number' && c.right === '') c.right = 0;
          onChange(c);
        }} />
      <datalist id={listId}>
        {options.map((o) => <option key={o.value} value={o.value}>{`${o.group}${o.type ? ` · ${o.type}` : ''}`}</option>)}
      </datalist>
      <select aria-label="Operator" value={op} data-testid={`condition-${path}-op`} onChange={(e) => setOp(e.target.value as Op)}>
        {OPS.map((o) => <option key={o} value={o}>{OP_LABELS[o]} ({o})</option>)}
      </select>
      {!NO_RIGHT.includes(op) && !LIST_OPS.includes(op) && !DURATION_OPS.includes(op) && (
        <select aria-label="Value type" value={kind} onChange={(e) => setKind(e.target.value as ValueKind)}>
          <option value="text">text</option><option value="number">number</option><option value="boolean">true/false</option>
          <option value="ref">value of the run</option><option value="list">list</option><option value="null">null</option>
        </select>
      )}
      {rightInput && <span data-testid={`condition-${path}-right`} className="cmp-right">{rightInput}</span>}
    </div>
  );
}

interface TreeOpts { allowHistory?: boolean; problems?: PointerProblem[] }

/** Server problems at exactly `pointer`, or below it for a leaf row. */
function ownProblems(problems: PointerProblem[] | undefined, pointer: string, below: boolean): string[] {
  return (problems ?? []).filter((p) => p.pointer === pointer || (below && p.pointer.startsWith(pointer + '/'))).map((p) => p.message);
}

function ProblemList({ messages, testid }: { messages: string[]; testid: string }) {
  if (messages.length === 0) return null;
  return (
    <ul className="row-problems" data-testid={testid}>
      {messages.map((m, i) => <li key={i} role="alert">{m}</li>)}
    </ul>
  );
}

function Node({ value, onChange, onRemove, scope, path, pointer, opts }: { value: Cond; onChange: (c: Cond) => void; onRemove?: () => void; scope: ConditionScope; path: string; pointer: string; opts: TreeOpts }) {
  const negated = 'not' in value && isObject(value.not);
  const inner = negated ? (value.not as Cond) : value;
  const innerPointer = negated ? `${pointer}/not` : pointer;
  const history = isHistoryLeaf(inner);
  const setInner = (c: Cond) => onChange(negated ? { not: c } : c);
  const isGroup = Array.isArray(inner.all) || Array.isArray(inner.any);
  const mode = Array.isArray(inner.all) ? 'all' : 'any';
  const items = (isGroup ? (inner[mode] as Cond[]) : []) ?? [];

  return (
    <div className={`cond ${isGroup ? 'cond-group' : ''}`}>
      <div className="cond-bar">
        <label className="checkbox-inline">
          <input type="checkbox" checked={negated} onChange={(e) => onChange(e.target.checked ? { not: inner } : inner)} /> not
        </label>
        {isGroup && (
          <select aria-label="Match" value={mode} onChange={(e) => setInner({ [e.target.value]: items })}>
            <option value="all">all of these</option>
            <option value="any">any of these</option>
          </select>
        )}
        {!isGroup && (opts.allowHistory || history) && (
          <select aria-label="Kind of condition" value={history ? 'history' : 'attribute'} data-testid={`condition-${path}-kind`}
            onChange={(e) => setInner(e.target.value === 'history' ? newHistoryLeaf() : newComparison())}>
            <option value="attribute">a value (attribute, tag, stage…)</option>
            <option value="history">performed an event</option>
          </select>
        )}
        {onRemove && <button type="button" className="icon" aria-label="Remove condition" onClick={onRemove}>✕</button>}
      </div>
      {isGroup ? (
        <div className="cond-items">
          <ProblemList messages={ownProblems(opts.problems, innerPointer, false).concat(items.length === 0 && opts.allowHistory ? [`add something to “${mode === 'all' ? 'all of these' : 'any of these'}”`] : [])} testid={`condition-${path}-problems`} />
          {items.map((item, i) => (
            <Node key={i} value={item} scope={scope} path={`${path}-${i}`} pointer={`${innerPointer}/${mode}/${i}`} opts={opts}
              onChange={(c) => setInner({ [mode]: items.map((x, j) => (j === i ? c : x)) })}
              onRemove={() => setInner({ [mode]: items.filter((_, j) => j !== i) })} />
          ))}
          <div className="row">
            <button type="button" data-testid={`condition-${path}-add`} onClick={() => setInner({ [mode]: [...items, newComparison()] })}>+ comparison</button>
            {opts.allowHistory && <button type="button" data-testid={`condition-${path}-add-history`} onClick={() => setInner({ [mode]: [...items, newHistoryLeaf()] })}>+ performed event</button>}
            <button type="button" onClick={() => setInner({ [mode]: [...items, { all: [newComparison()] }] })}>+ group</button>
          </div>
        </div>
      ) : history ? (
        <HistoryRow value={inner} onChange={setInner} path={path} pointer={innerPointer} opts={opts} />
      ) : (
        <>
          <Comparison value={inner} onChange={setInner} scope={scope} path={path} />
          <ProblemList testid={`condition-${path}-problems`}
            messages={[...new Set([...(opts.allowHistory && !String(inner.left ?? '').trim() ? ['choose what to compare'] : []), ...ownProblems(opts.problems, innerPointer, true)])]} />
        </>
      )}
    </div>
  );
}

const TIME_WINDOWS = ['', '7d', '30d', '90d', '180d', '365d'];

/** A "performed event" leaf: event, measure, property (sum/avg/min/max), time window,
 * operator and value, an optional filter over the event's properties. */
function HistoryRow({ value, onChange, path, pointer, opts }: { value: Cond; onChange: (c: Cond) => void; path: string; pointer: string; opts: TreeOpts }) {
  const events = useCatalog((s) => s.events);
  const eventList = useId();
  const propList = useId();
  const performed = typeof value.performed === 'string' ? value.performed : '';
  const measure = (MEASURES as readonly string[]).includes(String(value.measure)) ? (value.measure as Measure) : 'count';
  const ops = opsFor(measure);
  const op = ops.includes(value.op as Op) ? (value.op as Op) : ops[0];
  const isTime = TIME_MEASURES.includes(measure);
  const props = (events.find((e) => e.name === performed)?.properties ?? []).filter((p) => p.type === 'number');
  const within = typeof value.within_last === 'string' ? value.within_last : '';
  const customWindow = !TIME_WINDOWS.includes(within);
  const own = historyProblems(value);
  const serverProblems = problemsUnder(opts.problems, pointer);
  const problemOf = (field: string) => {
    const server = serverProblems.filter((p) => p.pointer === `/${field}` || p.pointer.startsWith(`/${field}/`)).map((p) => p.message);
    return [...(own[field] ? [own[field]] : []), ...server.filter((m) => m !== own[field])];
  };
  const rowProblems = [
    ...(opts.allowHistory ? [] : ['event history can be used in segments and lifecycle rules, not in journeys']),
    ...serverProblems.filter((p) => p.pointer === '').map((p) => p.message),
  ];
  const fieldProblem = (field: string) => {
    const m = problemOf(field);
    return m.length ? <div className="inline-error" role="alert" data-testid={`condition-${path}-${field}-problem`}>{m.join('; ')}</div> : null;
  };
  const set = (patch: Cond) => {
    const c: Cond = { ...value, ...patch };
    for (const k of Object.keys(c)) if (c[k] === undefined) delete c[k];
    onChange(c);
  };

  let rightInput: React.ReactNode = null;
  if (op === 'exists' || op === 'not_exists') rightInput = null;
  else if (op === 'within_last' || op === 'more_than_ago') {
    rightInput = <input aria-label="Period" value={typeof value.right === 'string' ? value.right : ''} placeholder="30d" data-testid={`condition-${path}-right`} onChange={(e) => set({ right: e.target.value })} />;
  } else if (op === 'before' || op === 'after') {
    const text = typeof value.right === 'string' ? value.right : '';
    rightInput = /^\d{4}-\d{2}-\d{2}$/.test(text) || text === ''
      ? <input aria-label="Date" type="date" value={text} data-testid={`condition-${path}-right`} onChange={(e) => set({ right: e.target.value })} />
      : <input aria-label="Date and time" value={text} data-testid={`condition-${path}-right`} onChange={(e) => set({ right: e.target.value })} />;
  } else {
    rightInput = <input aria-label="Value" type="number" min={measure === 'count' ? 0 : undefined} step={measure === 'count' ? 1 : 'any'}
      value={typeof value.right === 'number' ? value.right : ''} data-testid={`condition-${path}-right`}
      onChange={(e) => set({ right: e.target.value === '' ? undefined : Number(e.target.value) })} />;
  }

  return (
    <div className="history" data-testid={`condition-${path}`} data-kind="history">
      <div className="cmp">
        <input aria-label="Performed event" list={eventList} value={performed} placeholder="purchase" data-testid={`condition-${path}-performed`}
          onChange={(e) => set({ performed: e.target.value })} />
        <datalist id={eventList}>{events.map((e) => <option key={e.name} value={e.name}>{`${e.count} seen`}</option>)}</datalist>
        <select aria-label="Measure" value={measure} data-testid={`condition-${path}-measure`} onChange={(e) => onChange(withMeasure(value, e.target.value as Measure))}>
          {MEASURES.map((m) => <option key={m} value={m}>{MEASURE_LABELS[m]}</option>)}
        </select>
        {PROPERTY_MEASURES.includes(measure) && (
          <>
            <input aria-label="Event property" list={propList} value={typeof value.property === 'string' ? value.property : ''} placeholder="amount"
              data-testid={`condition-${path}-property`} onChange={(e) => set({ property: e.target.value })} />
            <datalist id={propList}>{props.map((p) => <option key={p.path} value={p.path} />)}</datalist>
          </>
        )}
      </div>
      {fieldProblem('performed')}{fieldProblem('measure')}{fieldProblem('property')}
      <div className="cmp">
        <select aria-label="Counting events" value={customWindow ? 'custom' : within} data-testid={`condition-${path}-within`}
          onChange={(e) => set({ within_last: e.target.value === '' ? undefined : e.target.value === 'custom' ? (within || '14d') : e.target.value })}>
          <option value="">ever</option>
          {TIME_WINDOWS.slice(1).map((w) => <option key={w} value={w}>in the last {w}</option>)}
          <option value="custom">in the last …</option>
        </select>
        {customWindow && (
          <input aria-label="Counting events in the last" value={within} placeholder="14d" data-testid={`condition-${path}-within-custom`}
            onChange={(e) => set({ within_last: e.target.value })} />
        )}
        <select aria-label="Operator" value={op} data-testid={`condition-${path}-op`} onChange={(e) => onChange(withOp(value, e.target.value as Op))}>
          {ops.map((o) => <option key={o} value={o}>{(isTime ? TIME_OP_LABELS[o] : undefined) ?? OP_LABELS[o]}</option>)}
        </select>
        {rightInput && <span className="cmp-right">{rightInput}</span>}
        {op === 'more_than_ago' && <span className="muted">ago</span>}
      </div>
      {fieldProblem('within_last')}{fieldProblem('op')}{fieldProblem('right')}
      {isObject(value.where) ? (
        <ConditionBuilder label={`Only ${performed || 'events'} where`} value={value.where} optional scope={{ event: performed }} testid={`condition-${path}-where`}
          problems={problemsUnder(serverProblems, '/where')} onChange={(c) => set({ where: c })} />
      ) : (
        <button type="button" className="link" data-testid={`condition-${path}-where-add`}
          onClick={() => set({ where: { left: 'event.properties.', op: 'eq', right: '' } })}>+ only events where…</button>
      )}
      {fieldProblem('where')}
      <ProblemList messages={rowProblems} testid={`condition-${path}-problems`} />
    </div>
  );
}

/** An optional or required condition. `allowHistory`: offer "performed event" rows (segments,
 * lifecycle and scoring rules; journeys never). `problems`: the server's, by pointer relative to the condition. */
export function ConditionBuilder({ label, value, onChange, scope, optional, testid = 'cond', allowHistory, problems }: {
  label: string; value: unknown; onChange: (c: Cond | undefined) => void; scope: ConditionScope; optional?: boolean; testid?: string;
  allowHistory?: boolean; problems?: PointerProblem[];
}) {
  const opts: TreeOpts = { allowHistory, problems };
  return (
    <fieldset className="condition-builder" data-testid={testid}>
      <legend>{label}</legend>
      {isObject(value) ? (
        <>
          <Node value={value} onChange={onChange} scope={scope} path={testid} pointer="" opts={opts} onRemove={optional ? () => onChange(undefined) : undefined} />
          {!Array.isArray(value.all) && !Array.isArray(value.any) && (
            <div className="row">
              <button type="button" data-testid={`${testid}-and`} onClick={() => onChange({ all: [value, allowHistory && isHistoryLeaf(value) ? newHistoryLeaf() : newComparison()] })}>+ and</button>
              <button type="button" data-testid={`${testid}-or`} onClick={() => onChange({ any: [value, allowHistory && isHistoryLeaf(value) ? newHistoryLeaf() : newComparison()] })}>+ or</button>
            </div>
          )}
        </>
      ) : (
        <div className="row">
          <button type="button" data-testid={`${testid}-add`} onClick={() => onChange(newComparison())}>+ Add a condition</button>
          {allowHistory && <button type="button" data-testid={`${testid}-add-history`} onClick={() => onChange(newHistoryLeaf())}>+ Performed an event</button>}
        </div>
      )}
      {(problems ?? []).filter((p) => p.pointer === '' && !isObject(value)).map((p, i) => <div key={i} className="inline-error" role="alert">{p.message}</div>)}
    </fieldset>
  );
}
