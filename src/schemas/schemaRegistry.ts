import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { FieldError } from '../errors/catalogue.ts';

// ajv-formats is CommonJS; under NodeNext its default import is the module namespace.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

export const schemasDir = fileURLToPath(new URL('../../schemas/', import.meta.url));

/** `$id`s are `https://pytake.dev/schemas/<path under schemas/ without .json>`. */
export const schemaIdBase = 'https://pytake.dev/schemas/';

/** Schema ids may be given in full or as the path under schemas/ (`http/problem`). */
export const fullSchemaId = (id: string): string => (id.startsWith('https://') ? id : schemaIdBase + id);

export type JsonSchema = { $id: string; [keyword: string]: unknown };

/**
 * Every JSON Schema under `schemas/`, compiled once into one ajv instance so `$ref`s resolve across
 * files. The one source for validation at the edges and for the OpenAPI document.
 */
export class SchemaRegistry {
  private readonly ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
  private readonly validators = new Map<string, ValidateFunction>();
  readonly schemas: JsonSchema[] = [];

  constructor(directories: string[] = [schemasDir]) {
    addFormats(this.ajv);
    for (const directory of directories) {
      for (const file of listJsonFiles(directory)) {
        const schema = JSON.parse(readFileSync(file, 'utf8')) as JsonSchema;
        const expectedId = schemaIdBase + relative(directory, file).replace(/\.json$/, '');
        if (schema.$id !== expectedId) {
          throw new Error(`${file}: $id must be ${expectedId}`);
        }
        this.schemas.push(schema);
        this.ajv.addSchema(schema);
      }
    }
  }

  has(id: string): boolean {
    return this.ajv.getSchema(fullSchemaId(id)) !== undefined;
  }

  /** Validates `value` against the schema `id` (full `$id` or the path under schemas/). */
  validate(id: string, value: unknown): FieldError[] {
    const validator = this.validator(id);
    return validator(value) ? [] : toFieldErrors(validator.errors ?? []);
  }

  private validator(id: string): ValidateFunction {
    let validator = this.validators.get(id);
    if (!validator) {
      validator = this.ajv.getSchema(fullSchemaId(id));
      if (!validator) throw new Error(`no schema with $id ${fullSchemaId(id)}`);
      this.validators.set(id, validator);
    }
    return validator;
  }
}

function listJsonFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.json'))
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

/** ajv errors → `{path, message}` with JSON pointers that name the offending field itself. */
function toFieldErrors(errors: ErrorObject[]): FieldError[] {
  return errors.map((error) => {
    const params = error.params as Record<string, unknown>;
    let path = error.instancePath;
    if (error.keyword === 'required') path += `/${String(params.missingProperty)}`;
    if (error.keyword === 'additionalProperties') path += `/${String(params.additionalProperty)}`;
    if (error.keyword === 'unevaluatedProperties') path += `/${String(params.unevaluatedProperty)}`;
    return { path: path === '' ? '/' : path, message: error.message ?? error.keyword };
  });
}
