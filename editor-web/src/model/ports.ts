// The outgoing ports of each node type, in the order the canvas shows them
// (engine/src/nodes/mod.rs `Node::ports`). A port's handle id on the canvas is its name:
// `next`, `received`, `timed_out`, `failed`, a rule or variant name, `else`, `holdout`. A
// rule or variant whose name is empty or taken gets a handle named after its position
// instead. An optional port (a send's `failed`) may stay unconnected: that is no problem.

import { isObject } from './types';

export interface PortInfo {
  /** Port name, as the canvas labels it. */
  name: string;
  /** Handle id on the canvas (the name, unless the name is empty or repeated). */
  handle: string;
  /** Path of the port field below the node, e.g. `rules/0/next`. */
  path: string[];
  /** May stay unconnected (the field is then absent): a send node's `failed`. */
  optional?: boolean;
}

function single(name: string): PortInfo[] {
  return [{ name, handle: name, path: [name] }];
}

/** The ports of a node (or of the trigger, with type `trigger`). */
export function portsOf(type: string, config: Record<string, unknown>): PortInfo[] {
  switch (type) {
    case 'trigger':
    case 'delay':
    case 'wait_until':
    case 'update_contact':
      return single('next');
    case 'send':
      // `failed`: where the run goes when the message is not delivered (optional).
      return [...single('next'), { name: 'failed', handle: 'failed', path: ['failed'], optional: true }];
    case 'exit':
      return [];
    case 'wait_for_event':
      return [...single('received'), ...single('timed_out')];
    case 'branch':
    case 'split': {
      const field = type === 'branch' ? 'rules' : 'variants';
      const items = Array.isArray(config[field]) ? (config[field] as unknown[]) : [];
      const reserved = type === 'branch' ? 'else' : 'holdout';
      const used = new Set<string>([reserved]);
      const ports: PortInfo[] = items.map((item, i) => {
        const name = isObject(item) && typeof item.name === 'string' ? item.name : '';
        const unique = name.trim() !== '' && !used.has(name) && !name.includes('/');
        used.add(name);
        return { name: name || `#${i + 1}`, handle: unique ? name : `${field}/${i}`, path: [field, String(i), 'next'] };
      });
      if (type === 'branch') ports.push({ name: 'else', handle: 'else', path: ['else'] });
      else if (isObject(config.holdout)) ports.push({ name: 'holdout', handle: 'holdout', path: ['holdout', 'next'] });
      return ports;
    }
    default:
      return [];
  }
}

/** Read the port at `path` of a config (undefined when absent or not text). */
export function getPort(config: Record<string, unknown>, path: string[]): string | undefined {
  let v: unknown = config;
  for (const seg of path) {
    if (Array.isArray(v)) v = v[Number(seg)];
    else if (isObject(v)) v = v[seg];
    else return undefined;
  }
  return typeof v === 'string' ? v : undefined;
}

/** A copy of `config` with the port at `path` set to `target` (or removed when undefined). */
export function setPort(config: Record<string, unknown>, path: string[], target: string | undefined): Record<string, unknown> {
  const [head, ...rest] = path;
  const copy: Record<string, unknown> | unknown[] = Array.isArray(config) ? [...config] : { ...config };
  if (rest.length === 0) {
    if (target === undefined) delete (copy as Record<string, unknown>)[head];
    else (copy as Record<string, unknown>)[head] = target;
    return copy as Record<string, unknown>;
  }
  const child = (copy as Record<string, unknown>)[head];
  if (!isObject(child) && !Array.isArray(child)) return copy as Record<string, unknown>;
  (copy as Record<string, unknown>)[head] = setPort(child as Record<string, unknown>, rest, target);
  return copy as Record<string, unknown>;
}
