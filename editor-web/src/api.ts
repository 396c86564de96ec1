// The REST API of `kairos serve` (see /work/tmp/editor-contract.md and api/src/routes).
// The editor authenticates with the session cookie; every write sends the CSRF token.
// A 401 from any call (other than signing in) sends the user to /login.

import type { Conversion, SplitConversion, VersionConversion } from './model/conversion';
import type { DeliverySettings, StoredDeliverySettings } from './model/delivery';

export interface ProblemItem { pointer: string; node?: string; message: string; code: string }
export interface ProblemDetails { type?: string; title?: string; status: number; detail?: string; code?: string; errors?: ProblemItem[] }

export class ApiError extends Error {
  constructor(public readonly status: number, public readonly problem: ProblemDetails) {
    super(problem.detail || problem.title || `HTTP ${status}`);
  }
  get errors(): ProblemItem[] { return this.problem.errors ?? []; }
}

let csrfToken: string | null = null;
let onUnauthorized: () => void = () => {};
export function setCsrfToken(token: string | null) { csrfToken = token; }
export function setUnauthorizedHandler(fn: () => void) { onUnauthorized = fn; }

async function request<T>(method: string, path: string, body?: unknown, opts: { raw?: boolean; no401?: boolean; signal?: AbortSignal } = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  const res = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body), signal: opts.signal });
  if (res.status === 401 && !opts.no401) onUnauthorized();
  if (!res.ok) {
    let problem: ProblemDetails = { status: res.status };
    try { problem = { status: res.status, ...(await res.json()) }; } catch { /* not JSON */ }
    throw new ApiError(res.status, problem);
  }
  if (res.status === 204) return undefined as T;
  if (opts.raw) return (await res.text()) as T;
  return (await res.json()) as T;
}

const enc = encodeURIComponent;

// ----- session and API keys -----
export interface Session { email: string; csrf_token: string }
export const getSession = () => request<Session>('GET', '/v1/session', undefined, { no401: true });
export const signIn = (email: string, password: string) => request<Session>('POST', '/v1/session', { email, password }, { no401: true });
export const signOut = () => request<void>('DELETE', '/v1/session', undefined, { no401: true });

export interface ApiKey { id: string; name: string; prefix: string; created_at: string; revoked_at: string | null }
export const listApiKeys = () => request<{ data: ApiKey[] }>('GET', '/v1/api-keys');
export const createApiKey = (name: string) => request<ApiKey & { key: string }>('POST', '/v1/api-keys', { name });
export const revokeApiKey = (id: string) => request<void>('DELETE', `/v1/api-keys/${enc(id)}`);

// ----- delivery settings (quiet hours, frequency caps) -----
export const getDeliverySettings = () => request<StoredDeliverySettings>('GET', '/v1/settings/delivery');
/** Answers 409 (`version_conflict`) when `version` is given and someone else saved meanwhile. */
export const putDeliverySettings = (body: DeliverySettings) => request<StoredDeliverySettings>('PUT', '/v1/settings/delivery', body);

// ----- topics -----
export interface Topic { id: string; name: string; description: string; created_at: string; updated_at: string }
export const listTopics = () => request<{ data: Topic[] }>('GET', '/v1/topics');
export const createTopic = (topic: { id: string; name: string; description?: string }) => request<Topic>('POST', '/v1/topics', topic);
export const deleteTopic = (id: string) => request<void>('DELETE', `/v1/topics/${enc(id)}`);

// ----- catalog -----
export type JsonType = 'string' | 'number' | 'boolean' | 'object' | 'array' | 'null';
export interface CatalogProperty { path: string; type: JsonType }
export interface CatalogEvent { name: string; count: number; last_seen: string; properties: CatalogProperty[] }
export const catalogEvents = () => request<{ data: CatalogEvent[] }>('GET', '/v1/catalog/events');
export const catalogAttributes = () => request<{ data: CatalogProperty[] }>('GET', '/v1/catalog/attributes');

// ----- workflows -----
export type WorkflowStatus = 'draft' | 'live' | 'paused' | 'archived';
export interface WorkflowSummary {
  id: string; name: string; status: WorkflowStatus; live_version: number | null; latest_version: number | null;
  active_runs: number; created_at: string; updated_at: string;
}
export interface WorkflowDetail extends WorkflowSummary {
  draft: Record<string, unknown>; valid: boolean; problems: ProblemItem[]; unpublished_changes: boolean;
}
export type { Conversion, SplitConversion, VersionConversion } from './model/conversion';
export interface NodeCounts { entered: number; waiting: number; exited: number; converted: number }
export interface WorkflowStats {
  workflow_id: string; version: number | null;
  runs: { started: number; active: number; waiting: number; completed: number; exited: number; cancelled: number; converted: number };
  nodes: Record<string, NodeCounts>;
  /** The goal's conversion window of the version shown (`settings.goal.within`). */
  goal_within: string | null;
  conversion: Conversion;
  versions: VersionConversion[];
  splits: SplitConversion[];
}
export interface VersionSummary { version: number; published_at: string; live: boolean }
export interface VersionDetail extends VersionSummary { workflow_id: string; definition: Record<string, unknown> }

export const listWorkflows = (after?: string) =>
  request<{ data: WorkflowSummary[]; next: string | null }>('GET', `/v1/workflows?limit=500${after ? `&after=${enc(after)}` : ''}`);
export const createWorkflow = (doc: unknown) => request<WorkflowDetail>('POST', '/v1/workflows', doc);
export const getWorkflow = (id: string) => request<WorkflowDetail>('GET', `/v1/workflows/${enc(id)}`);
export const saveWorkflow = (id: string, doc: unknown) => request<WorkflowDetail>('PUT', `/v1/workflows/${enc(id)}`, doc);
export const validateWorkflow = (id: string) => request<{ valid: boolean; problems: ProblemItem[] }>('POST', `/v1/workflows/${enc(id)}/validate`);
export const publishWorkflow = (id: string) => request<{ workflow_id: string; version: number; published_at: string }>('POST', `/v1/workflows/${enc(id)}/publish`);
export const pauseWorkflow = (id: string) => request<WorkflowSummary>('POST', `/v1/workflows/${enc(id)}/pause`);
export const resumeWorkflow = (id: string) => request<WorkflowSummary>('POST', `/v1/workflows/${enc(id)}/resume`);
export const archiveWorkflow = (id: string) => request<WorkflowSummary>('POST', `/v1/workflows/${enc(id)}/archive`);
export const listVersions = (id: string) => request<{ data: VersionSummary[]; next: number | null }>('GET', `/v1/workflows/${enc(id)}/versions?limit=500`);
export const getVersion = (id: string, n: number) => request<VersionDetail>('GET', `/v1/workflows/${enc(id)}/versions/${n}`);
export const exportWorkflow = (id: string) => request<string>('GET', `/v1/workflows/${enc(id)}/export`, undefined, { raw: true });
export const workflowStats = (id: string, version?: number) =>
  request<WorkflowStats>('GET', `/v1/workflows/${enc(id)}/stats${version ? `?version=${version}` : ''}`);

// ----- simulate, preview, journey tests -----
export interface ScenarioEvent { at: string; name: string; properties: Record<string, unknown> }
export interface Scenario {
  definition?: unknown;
  contact: { id: string; attributes: Record<string, unknown>; tags?: string[] };
  start?: string;
  events: ScenarioEvent[];
  horizon?: string;
}
export interface SimRun {
  /** The contact's entry number (1, 2, ...), as `run` in the timeline. */
  run: number; path: string[]; status: string; node: string | null; converted: boolean; variant?: string | null; ended_at?: string | null;
}
/** `kind`: see TIMELINE_KINDS (src/model/timeline.ts); `run` and `node` are null for the scenario's events. */
export interface SimTimelineEntry { at: string; offset: string; run: number | null; node: string | null; kind: string; detail: string; data?: Record<string, unknown> | null }
export interface SimSend {
  run: number; node: string; channel: string; to?: string | null; subject?: string | null; title?: string | null; url?: string | null;
  body: string; blocks?: unknown[]; at: string; offset: string;
}
export interface Simulation {
  start: string; runs: SimRun[]; timeline: SimTimelineEntry[]; sends: SimSend[];
  contact: { id: string; attributes: Record<string, unknown>; tags: string[] };
}
export const simulate = (id: string, scenario: Scenario) => request<Simulation>('POST', `/v1/workflows/${enc(id)}/simulate`, scenario);

export interface Preview {
  channel: string; to: string | null; subject?: string | null; title?: string | null; url?: string | null; body: string;
  method?: string | null; headers?: Record<string, string>;
  /** A Slack message's Block Kit blocks, rendered. */
  blocks?: unknown[];
  /** Why a real send to this contact would be skipped (e.g. no address), if it would. */
  warning?: string | null;
}
export const preview = (id: string, body: {
  definition?: unknown; node: string; contact_id?: string; attributes?: Record<string, unknown>;
  trigger?: { name?: string; properties: Record<string, unknown> };
}) => request<Preview>('POST', `/v1/workflows/${enc(id)}/preview`, body);

export interface TestFile { $schema?: string; tests: Record<string, unknown>[] }
export const getTests = (id: string) => request<TestFile>('GET', `/v1/workflows/${enc(id)}/tests`);
export const putTests = (id: string, file: TestFile) => request<TestFile>('PUT', `/v1/workflows/${enc(id)}/tests`, file);

// ----- the template library -----
export type TemplateKind = 'message' | 'partial' | 'layout';
export interface TemplateSummary {
  id: string; name: string; kind: TemplateKind; channel: string | null; latest_version: number; created_at: string; updated_at: string;
}
export interface TemplateVersionDetail {
  id: string; version: number; name: string; description?: string; kind: TemplateKind; channel: string | null;
  message: Record<string, unknown> | null; content: string | null; created_at: string;
}
export interface TemplateUse { workflow_id: string; workflow_version: number; template_version: number; reason: 'live' | 'paused' | 'active_runs'; active_runs?: number }
export interface TemplateDetail extends TemplateVersionDetail { template_created_at: string; used_by: TemplateUse[] }
export interface TemplatePreview {
  kind: TemplateKind; version: number | null; channel: string | null; to: string | null; subject: string | null; title: string | null;
  url: string | null; body: string; text: string | null; from: string | null; reply_to: string | null; warning: string | null;
}
export const listTemplates = async (kind?: TemplateKind): Promise<TemplateSummary[]> => {
  const all: TemplateSummary[] = [];
  let after: string | undefined;
  do {
    const q = new URLSearchParams({ limit: '500' });
    if (kind) q.set('kind', kind);
    if (after) q.set('after', after);
    const page = await request<{ data: TemplateSummary[]; next: string | null }>('GET', `/v1/templates?${q}`);
    all.push(...page.data);
    after = page.next ?? undefined;
  } while (after);
  return all;
};
export const getTemplate = (id: string) => request<TemplateDetail>('GET', `/v1/templates/${enc(id)}`);
export const createTemplate = (doc: unknown) => request<TemplateDetail>('POST', '/v1/templates', doc);
export const saveTemplate = (id: string, doc: unknown) => request<TemplateDetail>('PUT', `/v1/templates/${enc(id)}`, doc);
export const deleteTemplate = (id: string) => request<void>('DELETE', `/v1/templates/${enc(id)}`);
export const listTemplateVersions = (id: string) =>
  request<{ data: { version: number; name: string; created_at: string }[]; next: number | null }>('GET', `/v1/templates/${enc(id)}/versions?limit=500`);
export const getTemplateVersion = (id: string, version: number) => request<TemplateVersionDetail>('GET', `/v1/templates/${enc(id)}/versions/${version}`);
export const previewTemplate = (id: string, body: {
  version?: number; template?: unknown; contact_id?: string; attributes?: Record<string, unknown>;
  trigger?: { name?: string; properties: Record<string, unknown> };
}) => request<TemplatePreview>('POST', `/v1/templates/${enc(id)}/preview`, body);

// ----- runs and contacts -----
export interface RunSummary {
  id: string; workflow_id: string; version: number; contact_id: string; entry: number; correlation: string | null;
  status: string; node: string | null; wait: { kind: string; event?: string; until: string } | null;
  started_at: string; converted_at: string | null; ended_at: string | null;
}
export interface RunDetail extends RunSummary {
  trigger: { name: string; properties: Record<string, unknown>; timestamp: string };
  event: { name: string; properties: Record<string, unknown>; timestamp: string } | null;
  visits: Record<string, number>;
  timeline: Record<string, unknown>[];
}
export const listRuns = (q: { workflow?: string; node?: string; status?: string; limit?: number }) => {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, String(v));
  return request<{ data: RunSummary[]; next: string | null }>('GET', `/v1/runs?${params}`);
};
export const getRun = (id: string) => request<RunDetail>('GET', `/v1/runs/${enc(id)}`);

export interface ContactDto { id: string; attributes: Record<string, unknown>; tags: string[]; lifecycle_stage: string | null }
export const getContact = (id: string) => request<ContactDto>('GET', `/v1/contacts/${enc(id)}`);

/** A readable message for an error of any kind. */
export function errorText(e: unknown): string {
  if (e instanceof ApiError) {
    // Items the detail already spells out (e.g. `invalid_scenario`) are not repeated.
    const items = e.errors.filter((i) => !e.message.includes(i.message)).map((i) => `${i.pointer} ${i.message}`).join('; ');
    return items ? `${e.message} (${items})` : e.message;
  }
  return e instanceof Error ? e.message : String(e);
}

// ----- delivery providers -----
export interface RateLimit { per_second: number; burst: number }
export interface ProviderKind {
  kind: string; channel: string; description: string; idempotent: boolean;
  settings_schema: Record<string, unknown>; secrets_schema: Record<string, unknown>;
}
export interface Provider {
  id: string; name: string; kind: string; channel: string; default: boolean; rate_limit: RateLimit | null;
  guarantee: 'at_least_once' | 'at_most_once'; settings: Record<string, unknown>; secrets_set: string[];
  created_at: string; updated_at: string;
}
export interface ProviderInput {
  id?: string; name?: string; kind?: string; default?: boolean; rate_limit?: RateLimit | null;
  guarantee?: Provider['guarantee']; settings?: Record<string, unknown>; secrets?: Record<string, unknown>;
}
export const listProviderKinds = () => request<{ data: ProviderKind[] }>('GET', '/v1/provider-kinds');
export const listProviders = () => request<{ data: Provider[] }>('GET', '/v1/providers');
export const createProvider = (p: ProviderInput) => request<Provider>('POST', '/v1/providers', p);
export const updateProvider = (id: string, p: ProviderInput) => request<Provider>('PATCH', `/v1/providers/${enc(id)}`, p);
export const deleteProvider = (id: string) => request<void>('DELETE', `/v1/providers/${enc(id)}`);

// ----- segments -----
export interface Segment {
  id: string; name: string; description?: string; condition: Record<string, unknown>; size: number; created_at: string; updated_at: string;
}
export interface SegmentInput { name: string; description?: string; condition: unknown }
export interface SegmentMember { id: string; entered_at: string }
export interface SizePoint { at: string; size: number; entered: number; exited: number }
export type Interval = 'day' | 'week';
export const listSegments = () => request<{ segments: Segment[] }>('GET', '/v1/segments');
/** 409 when the id exists; 422 with `errors` by pointer (`/condition/all/0/right`). */
export const createSegment = (s: SegmentInput & { id: string }) => request<Segment>('POST', '/v1/segments', s);
export const getSegment = (id: string) => request<Segment>('GET', `/v1/segments/${enc(id)}`);
export const saveSegment = (id: string, s: SegmentInput) => request<Segment>('PUT', `/v1/segments/${enc(id)}`, s);
/** 409 `segment_in_use` while a live journey uses it. */
export const deleteSegment = (id: string) => request<void>('DELETE', `/v1/segments/${enc(id)}`);
export const segmentContacts = (id: string, after?: string, limit = 50) =>
  request<{ contacts: SegmentMember[]; next: string | null }>('GET', `/v1/segments/${enc(id)}/contacts?limit=${limit}${after ? `&after=${enc(after)}` : ''}`);
export const segmentSizes = (id: string, q: { from: string; to: string; interval: Interval }) =>
  request<{ points: SizePoint[] }>('GET', `/v1/segments/${enc(id)}/sizes?${new URLSearchParams(q)}`);
/** 422 with `errors` (pointers under `/condition`) when the condition is not valid. */
export const previewSegment = (condition: unknown, init?: { signal?: AbortSignal }) =>
  request<{ size: number; sample: string[] }>('POST', '/v1/segments/preview', { condition }, { signal: init?.signal });

// ----- audience: lifecycle stages, stage rules, lead scoring, RFM -----
export interface StageRule { to: string; event?: string; where?: Record<string, unknown>; condition?: Record<string, unknown>; from?: string[] }
export interface ScoringRule { points: number; event?: string; where?: Record<string, unknown>; condition?: Record<string, unknown> }
export interface AudienceSettings {
  stages: string[];
  stage_rules: StageRule[];
  scoring: { attribute: string; rules: ScoringRule[]; decay: { every: string; percent: number } | null } | null;
  rfm: { event: string; amount_property: string } | null;
}
export const getAudience = () => request<AudienceSettings>('GET', '/v1/audience');
/** 422 with `errors` by pointer (`/stage_rules/1/condition/right`). */
export const putAudience = (a: AudienceSettings) => request<AudienceSettings>('PUT', '/v1/audience', a);
export interface StageChange { from: string | null; to: string; at: string; cause: string }
export const contactStages = (id: string) => request<{ changes: StageChange[] }>('GET', `/v1/contacts/${enc(id)}/stages`);

// ----- reports -----
export interface LifecycleReport {
  /** `stage` null: the contacts without a stage (listed last). */
  stages: { stage: string | null; contacts: number }[];
  transitions: { period: string; from: string | null; to: string; count: number }[];
  retention: { event: string; cohorts: { week: string; size: number; weeks: number[] }[] } | null;
  goals: { workflow: string; name: string; entered: number; converted: number; rate: number }[];
}
export const lifecycleReport = (q: { from: string; to: string; interval: Interval }) =>
  request<LifecycleReport>('GET', `/v1/reports/lifecycle?${new URLSearchParams(q)}`);
