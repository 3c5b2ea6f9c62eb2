/**
 * The one ajv instance and every compiled JSON Schema validator. The files in
 * `schemas/` are the single source of truth; this module only loads them.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

const schemaDir = new URL('../schemas/', import.meta.url);
const SCHEMA_FILES = [
  'common', 'v1-create-payment', 'v1-refund', 'v2-create-payment', 'v2-refund',
  'empty-body', 'config', 'ruleset', 'canary', 'merchant-flag', 'merchant-flag-delete', 'rollback', 'handover',
] as const;

export type SchemaId = (typeof SCHEMA_FILES)[number];

/** A validation problem, as returned in an error body's `details`. */
export interface Problem { path: string; message: string }

const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, useDefaults: true, allowUnionTypes: true });
for (const id of SCHEMA_FILES) {
  ajv.addSchema(JSON.parse(readFileSync(new URL(`${id}.json`, schemaDir), 'utf8')));
}

const compiled = new Map<SchemaId, ValidateFunction>();

/** The compiled validator of one schema (compiled once, on first use). */
export function validator(id: SchemaId): ValidateFunction {
  let fn = compiled.get(id);
  if (!fn) {
    fn = ajv.getSchema(id);
    if (!fn) throw new Error(`schema ${id} is not loaded`);
    compiled.set(id, fn);
  }
  return fn;
}

/** A property name as one JSON-pointer segment (RFC 6901 section 3). */
function escapePointer(name: string): string {
  return name.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** ajv errors as `{path, message}` pairs, with JSON-pointer paths ("/amount/value"). */
export function problems(errors: ErrorObject[] | null | undefined): Problem[] {
  // A bad property name yields two errors, the reason and a generic "property name must be valid": keep the reason.
  return (errors ?? []).filter((e) => e.keyword !== 'propertyNames').map((e) => {
    const badName = (e as ErrorObject & { propertyName?: string }).propertyName;
    const field = e.params.missingProperty ?? e.params.additionalProperty ?? badName;
    const path = field !== undefined ? `${e.instancePath}/${escapePointer(String(field))}` : e.instancePath || '/';
    const message = e.keyword === 'additionalProperties' ? 'is not an allowed field'
      : e.keyword === 'required' ? 'is required'
      : e.keyword === 'dependencies' ? `is required with ${String(e.params.property)}`
      : badName !== undefined ? `is not an allowed name: ${e.message ?? 'invalid'}`
      : e.keyword === 'enum' ? `must be one of ${(e.params.allowedValues as unknown[]).join(', ')}`
      : e.message ?? 'is invalid';
    return { path, message };
  });
}

/** Validates `value` against a schema; returns the problems, empty when valid. */
export function check(id: SchemaId, value: unknown): Problem[] {
  const fn = validator(id);
  return fn(value) ? [] : problems(fn.errors);
}
