// A condition builder: comparisons (operand, operator, typed value) in nested all/any
// groups, each of which can be negated. Operands are suggested from the catalog.
import { useId, useMemo } from 'react';
import { operandOptions, useCatalog } from '../catalog';
import { isObject, isRef, OP_LABELS, OPS, type Json, type Op } from '../model/types';

/** What a condition may read: the trigger's and the awaited event's properties, the run data saved from webhooks (`data.<name>`). */
export interface ConditionScope { trigger?: string; event?: string; data?: string[] }

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

function Node({ value, onChange, onRemove, scope, path }: { value: Cond; onChange: (c: Cond) => void; onRemove?: () => void; scope: ConditionScope; path: string }) {
  const negated = 'not' in value && isObject(value.not);
  const inner = negated ? (value.not as Cond) : value;
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
        {onRemove && <button type="button" className="icon" aria-label="Remove condition" onClick={onRemove}>✕</button>}
      </div>
      {isGroup ? (
        <div className="cond-items">
          {items.map((item, i) => (
            <Node key={i} value={item} scope={scope} path={`${path}-${i}`}
              onChange={(c) => setInner({ [mode]: items.map((x, j) => (j === i ? c : x)) })}
              onRemove={() => setInner({ [mode]: items.filter((_, j) => j !== i) })} />
          ))}
          <div className="row">
            <button type="button" onClick={() => setInner({ [mode]: [...items, newComparison()] })}>+ comparison</button>
            <button type="button" onClick={() => setInner({ [mode]: [...items, { all: [newComparison()] }] })}>+ group</button>
          </div>
        </div>
      ) : (
        <Comparison value={inner} onChange={setInner} scope={scope} path={path} />
      )}
    </div>
  );
}

/** An optional or required condition. */
export function ConditionBuilder({ label, value, onChange, scope, optional, testid = 'cond' }: {
  label: string; value: unknown; onChange: (c: Cond | undefined) => void; scope: ConditionScope; optional?: boolean; testid?: string;
}) {
  return (
    <fieldset className="condition-builder" data-testid={testid}>
      <legend>{label}</legend>
      {isObject(value) ? (
        <>
          <Node value={value} onChange={onChange} scope={scope} path={testid} onRemove={optional ? () => onChange(undefined) : undefined} />
          {!Array.isArray(value.all) && !Array.isArray(value.any) && (
            <div className="row">
              <button type="button" onClick={() => onChange({ all: [value, newComparison()] })}>+ and</button>
              <button type="button" onClick={() => onChange({ any: [value, newComparison()] })}>+ or</button>
            </div>
          )}
        </>
      ) : (
        <button type="button" data-testid={`${testid}-add`} onClick={() => onChange(newComparison())}>+ Add a condition</button>
      )}
    </fieldset>
  );
}
