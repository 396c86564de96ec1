// Types of the journey format v1. Source of truth: engine/src/workflow.rs,
// engine/src/nodes/*.rs, engine/src/condition.rs (and workflows/schema.json, generated
// from them). Drafts may be incomplete while they are edited, so the editor treats the
// fields as possibly missing at run time; these types describe the valid shape.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** The 16 comparison operators, in the order the format documents them. */
export const OPS = [
  'eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'not_in', 'contains', 'starts_with',
  'exists', 'not_exists', 'before', 'after', 'within_last', 'more_than_ago',
] as const;
export type Op = (typeof OPS)[number];

export const OP_LABELS: Record<Op, string> = {
  eq: 'equals', ne: 'does not equal', gt: 'is greater than', gte: 'is at least',
  lt: 'is less than', lte: 'is at most', in: 'is one of', not_in: 'is none of',
  contains: 'contains', starts_with: 'starts with', exists: 'exists', not_exists: 'does not exist',
  before: 'is before', after: 'is after', within_last: 'is within the last', more_than_ago: 'is more than … ago',
};

/** `{"ref": "trigger.properties.cart_id"}`: compare with another value of the run. */
export interface RefValue { ref: string }
export type Right = RefValue | Json;

/** `{"left": operand, "op": op, "right"?: value}`; `right` is left out for exists / not_exists. */
export interface Comparison { left: string; op: Op; right?: Right }
export type Condition = { all: Condition[] } | { any: Condition[] } | { not: Condition } | Comparison | HistoryCondition;

/** What an event-history leaf measures over the contact's events of one name. */
export type Measure = 'count' | 'sum' | 'avg' | 'min' | 'max' | 'first_at' | 'last_at';
/** `{"performed": "purchase", "measure": "count", "within_last": "90d", "op": "gte", "right": 3}`:
 * allowed in segments and lifecycle/scoring rules, refused inside journey nodes. `property`:
 * for sum/avg/min/max; `where`: a condition over `event.properties.*` filtering the events. */
export interface HistoryCondition {
  performed: string;
  measure: Measure;
  property?: string;
  within_last?: string;
  where?: Condition;
  op: Op;
  right?: Json;
}

// ----- trigger -----
export interface EventTrigger {
  type: 'event';
  event: string;
  conditions?: Condition;
  correlation_key?: string;
  next: string;
}
export interface ApiTrigger { type: 'api'; next: string }
/** A contact enters (or leaves) a segment. */
export interface SegmentTrigger { type: 'segment_entered' | 'segment_exited'; segment: string; next: string }
/** The members of `segment` enter at each fire of `cron` (5 fields) in `timezone` (IANA). */
export interface ScheduleTrigger { type: 'schedule'; cron: string; timezone: string; segment: string; next: string }
/** A date attribute of the contact (birthday, renewal): `offset_days` before (< 0) or after it,
 * at `at` (HH:MM) in the contact's time zone (else the journey's), every year or once. */
export interface DatePropertyTrigger {
  type: 'date_property'; attribute: string; offset_days: number; at: string; repeat: 'yearly' | 'once'; next: string;
}
/** Matches an attribute's old or new value, with the comparison operators. */
export interface ValueMatcher { op: MatcherOp; right?: Json }
export const MATCHER_OPS = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'not_in', 'contains', 'exists', 'not_exists'] as const;
export type MatcherOp = (typeof MATCHER_OPS)[number];
export interface AttributeChangedTrigger { type: 'attribute_changed'; attribute: string; from?: ValueMatcher; to?: ValueMatcher; next: string }
/** Lifecycle stage changes; `from` / `to` absent: any stage. */
export interface StageChangedTrigger { type: 'stage_changed'; from?: string[]; to?: string[]; next: string }
export type Trigger = EventTrigger | ApiTrigger | SegmentTrigger | ScheduleTrigger | DatePropertyTrigger | AttributeChangedTrigger | StageChangedTrigger;
export type TriggerType = Trigger['type'];

// ----- settings -----
export type Reentry = 'once' | 'after_exit' | 'always';
export const REENTRY: Reentry[] = ['once', 'after_exit', 'always'];
export interface EventMatch { event: string; conditions?: Condition }
export type Goal =
  | { type: 'event'; event: string; conditions?: Condition; exit?: boolean }
  | { type: 'condition'; condition: Condition; exit?: boolean };
/** What happens to a marketing message held back by quiet hours or a frequency cap. */
export type Behaviour = 'wait' | 'skip';
export const BEHAVIOURS: Behaviour[] = ['wait', 'skip'];
/** A journey's own quiet hours, in the contact's time zone (else the journey's). */
export interface QuietWindow { start: string; end: string; behaviour?: Behaviour }
/** `inherit` the workspace's quiet hours (default), `off`, or the journey's own window. */
export type QuietHoursOverride = 'inherit' | 'off' | QuietWindow;
/** Whether the workspace's frequency caps hold back the journey's marketing messages. */
export type CapsOverride = 'apply' | 'ignore';
export interface Settings {
  reentry: Reentry;
  exit_when?: EventMatch[];
  goal?: Goal;
  timezone: string;
  quiet_hours?: QuietHoursOverride;
  frequency_caps?: CapsOverride;
}

// ----- nodes -----
export interface Delay { type: 'delay'; id: string; duration: string; next: string }

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';
export const WEEKDAYS: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
export type Until =
  | { type: 'timestamp'; at: string }
  | { type: 'attribute'; attribute: string; offset?: string; time_of_day?: string }
  | { type: 'time_window'; start: string; end: string; days: Weekday[]; timezone?: string };
export interface WaitUntil { type: 'wait_until'; id: string; until: Until; next: string }

export interface WaitForEvent {
  type: 'wait_for_event';
  id: string;
  event: string;
  conditions?: Condition;
  timeout: string;
  received: string;
  timed_out: string;
}

export interface Rule { name: string; condition: Condition; next: string }
export interface Branch { type: 'branch'; id: string; rules: Rule[]; else: string }

export interface Variant { name: string; weight: number; next: string }
export interface Holdout { weight: number; next: string }
export interface Split { type: 'split'; id: string; variants: Variant[]; holdout?: Holdout }

export type Channel = 'email' | 'sms' | 'push' | 'webhook' | 'slack';
export const CHANNELS: Channel[] = ['email', 'sms', 'push', 'webhook', 'slack'];
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export const HTTP_METHODS: HttpMethod[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
export type Message =
  | { channel: 'email'; subject: string; body: string; from?: string; reply_to?: string; text?: string; headers?: Record<string, string> }
  | { channel: 'sms'; body: string }
  | { channel: 'push'; title: string; body: string; url?: string }
  /** `success`: the statuses that count as delivered (default: any 2xx). */
  | { channel: 'webhook'; method?: HttpMethod; url: string; headers?: Record<string, string>; body?: Json; success?: StatusRule[] }
  /** A team notification through the Slack workspace's incoming webhook (not to the contact). */
  | { channel: 'slack'; text: string; blocks?: Json[] }
  /** A message template of the library; without `version`, publishing pins its latest. */
  | { channel: 'email' | 'sms' | 'push'; template: string; version?: number };
/** A status code (100–599) or a class of them, that a webhook counts as success. */
export type StatusRule = number | '2xx' | '3xx' | '4xx';
export interface Send {
  type: 'send';
  id: string;
  message: Message;
  provider?: string;
  transactional?: boolean;
  topic?: string;
  /** Webhook only: run data name → JSON pointer into the response body (`data.<name>` later). */
  save_response?: Record<string, string>;
  next: string;
  /** Where the run goes when the message is not delivered (optional port). */
  failed?: string;
}

export const LIFECYCLE_STAGES = [
  'subscriber', 'lead', 'customer', 'repeat_customer', 'loyal_advocate', 'lapsed', 'inactive', 'reactivated',
] as const;
export type Update =
  | { op: 'set'; attribute: string; value: Right }
  | { op: 'unset'; attribute: string }
  | { op: 'increment'; attribute: string; by: number }
  | { op: 'set_lifecycle_stage'; stage: string }
  | { op: 'add_tag'; tag: string }
  | { op: 'remove_tag'; tag: string };
export const UPDATE_OPS: Update['op'][] = ['set', 'unset', 'increment', 'set_lifecycle_stage', 'add_tag', 'remove_tag'];
export interface UpdateContact { type: 'update_contact'; id: string; updates: Update[]; next: string }

export interface Exit { type: 'exit'; id: string }

export type WorkflowNode = Delay | WaitUntil | WaitForEvent | Branch | Split | Send | UpdateContact | Exit;
export type NodeType = WorkflowNode['type'];

/** Every node `type`, in palette order (engine/src/nodes/mod.rs NODE_TYPES). */
export const NODE_TYPES: NodeType[] = [
  'delay', 'wait_until', 'wait_for_event', 'branch', 'split', 'send', 'update_contact', 'exit',
];

export const NODE_LABELS: Record<NodeType | 'trigger', string> = {
  trigger: 'Trigger',
  delay: 'Delay',
  wait_until: 'Wait until',
  wait_for_event: 'Wait for event',
  branch: 'Branch',
  split: 'Split',
  send: 'Send',
  update_contact: 'Update contact',
  exit: 'Exit',
};

export interface Position { x: number; y: number }

/** A journey document (`workflows/*.json`). */
export interface Workflow {
  $schema?: string;
  id: string;
  name: string;
  description?: string;
  trigger: Trigger;
  settings?: Settings;
  nodes: WorkflowNode[];
  layout?: Record<string, Position>;
}

/** The layout key and canvas id of the trigger box. */
export const TRIGGER_ID = 'trigger';

export function isRef(v: unknown): v is RefValue {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
    && Object.keys(v).length === 1 && typeof (v as RefValue).ref === 'string';
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
