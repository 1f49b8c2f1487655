import { sql } from 'slonik';

/** A JSON value as a jsonb parameter (slonik's own helpers refuse `unknown`). */
export const jsonb = (value: unknown) => sql.fragment`${JSON.stringify(value)}::jsonb`;
