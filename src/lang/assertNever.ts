/** Ends an exhaustive switch: a new union member the switch forgot fails typechecking here. */
export function assertNever(value: never): never {
  throw new Error(`unhandled case ${JSON.stringify(value)}`);
}
