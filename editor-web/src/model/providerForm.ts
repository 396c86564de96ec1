// Provider settings and secrets are described by JSON Schemas (GET /v1/provider-kinds).
// These pure functions turn a schema into form fields and form text back into the JSON
// the API takes, so marketers fill in fields instead of typing JSON.

export type FieldType = 'string' | 'integer' | 'number' | 'boolean' | 'enum';
export interface Field {
  name: string; type: FieldType; required: boolean; description: string; options?: string[];
}

type Schema = Record<string, unknown>;

function resolve(schema: Schema, root: Schema): Schema {
  const ref = schema.$ref;
  if (typeof ref === 'string' && ref.startsWith('#/')) {
    const target = ref.slice(2).split('/').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Schema)[k] : undefined), root);
    if (target && typeof target === 'object') return target as Schema;
  }
  return schema;
}

function typeOf(prop: Schema, root: Schema): { type: FieldType; options?: string[] } {
  const p = resolve(prop, root);
  if (Array.isArray(p.enum)) return { type: 'enum', options: p.enum.map(String) };
  const variants = (p.oneOf ?? p.anyOf) as Schema[] | undefined;
  if (Array.isArray(variants)) {
    const consts = variants.map((v) => resolve(v, root)).flatMap((v) => (v.const !== undefined ? [String(v.const)] : Array.isArray(v.enum) ? v.enum.map(String) : []));
    if (consts.length) return { type: 'enum', options: consts };
    const nonNull = variants.map((v) => resolve(v, root)).find((v) => v.type !== 'null');
    if (nonNull) return typeOf(nonNull, root);
  }
  const t = Array.isArray(p.type) ? p.type.find((x) => x !== 'null') : p.type;
  if (t === 'integer' || t === 'number' || t === 'boolean') return { type: t };
  return { type: 'string' };
}

/** The form fields of an object schema, required ones first. */
export function fieldsOf(schema: Schema): Field[] {
  const props = (schema.properties ?? {}) as Record<string, Schema>;
  const required = new Set(Array.isArray(schema.required) ? schema.required.map(String) : []);
  const fields = Object.entries(props).map(([name, prop]) => ({
    name, required: required.has(name), description: typeof prop.description === 'string' ? prop.description : '', ...typeOf(prop, schema),
  }));
  return fields.sort((a, b) => Number(b.required) - Number(a.required));
}

/** What a form holds: text per field (checkboxes as 'true' / ''). */
export type FormValues = Record<string, string>;

/** The JSON for `fields` from the form's text: empty optional fields are left out; a
 *  number that is not one is reported by field name. */
export function valuesToJson(fields: Field[], values: FormValues): { value: Record<string, unknown>; errors: Record<string, string> } {
  const value: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const f of fields) {
    const text = (values[f.name] ?? '').trim();
    if (f.type === 'boolean') { if (text === 'true') value[f.name] = true; else if (f.required) value[f.name] = false; continue; }
    if (!text) { if (f.required) errors[f.name] = 'required'; continue; }
    if (f.type === 'integer' || f.type === 'number') {
      const n = Number(text);
      if (!Number.isFinite(n) || (f.type === 'integer' && !Number.isInteger(n))) errors[f.name] = f.type === 'integer' ? 'a whole number' : 'a number';
      else value[f.name] = n;
      continue;
    }
    value[f.name] = text;
  }
  return { value, errors };
}

/** Form text from stored JSON (for editing settings). */
export function jsonToValues(fields: Field[], json: Record<string, unknown>): FormValues {
  const out: FormValues = {};
  for (const f of fields) {
    const v = json[f.name];
    out[f.name] = v === undefined || v === null ? '' : f.type === 'boolean' ? (v ? 'true' : '') : String(v);
  }
  return out;
}
