import { describe, expect, it } from 'vitest';
import { fieldsOf, jsonToValues, valuesToJson } from '../src/model/providerForm';

const schema = {
  type: 'object',
  required: ['host', 'port'],
  properties: {
    host: { type: 'string', description: 'The SMTP server' },
    port: { type: 'integer', format: 'uint16' },
    security: { $ref: '#/$defs/Security' },
    from: { type: ['string', 'null'] },
    pool: { type: 'boolean' },
  },
  $defs: { Security: { oneOf: [{ const: 'none' }, { const: 'starttls' }, { const: 'tls' }] } },
};

describe('provider forms from JSON Schema', () => {
  it('turns an object schema into typed fields, required first', () => {
    const fields = fieldsOf(schema);
    expect(fields.map((f) => [f.name, f.type, f.required])).toEqual([
      ['host', 'string', true], ['port', 'integer', true], ['security', 'enum', false], ['from', 'string', false], ['pool', 'boolean', false],
    ]);
    expect(fields.find((f) => f.name === 'security')?.options).toEqual(['none', 'starttls', 'tls']);
    expect(fields[0].description).toBe('The SMTP server');
  });

  it('builds the JSON from form text, leaving empty optional fields out and naming bad ones', () => {
    const fields = fieldsOf(schema);
    expect(valuesToJson(fields, { host: ' smtp.example.com ', port: '587', security: 'starttls', from: '', pool: 'true' }))
      .toEqual({ value: { host: 'smtp.example.com', port: 587, security: 'starttls', pool: true }, errors: {} });
    expect(valuesToJson(fields, { host: '', port: '58.5' }).errors).toEqual({ host: 'required', port: 'a whole number' });
  });

  it('round-trips stored settings through the form', () => {
    const fields = fieldsOf(schema);
    const stored = { host: 'h', port: 25, security: 'tls', pool: true };
    expect(valuesToJson(fields, jsonToValues(fields, stored)).value).toEqual(stored);
  });
});
