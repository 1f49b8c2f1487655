import { parseArgs } from 'node:util';

/** A benchmark's options: camelCase key → default and meaning; the command line spells it --kebab-case. */
export type Flags = Readonly<Record<string, readonly [string | number, string]>>;

export const flagName = (key: string) => key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);

/** Every flag's value as given, or its default, as text. `--help` prints the flags under `command` and exits. */
export function readFlags(command: string, flags: Flags): Record<string, string> {
  const entries = Object.entries(flags);
  const spec = Object.fromEntries(entries.map(([key]) => [flagName(key), { type: 'string' as const }]));
  const { values } = parseArgs({ options: { ...spec, help: { type: 'boolean' } } });
  if (values.help) {
    console.log(`${command} -- [options]`);
    for (const [key, [value, text]] of entries) {
      console.log(`  --${flagName(key).padEnd(15)} ${text}${value === '' ? '' : ` (${value})`}`);
    }
    process.exit(0);
  }
  const given = values as Record<string, string | undefined>;
  return Object.fromEntries(entries.map(([key, [value]]) => [key, given[flagName(key)] ?? String(value)]));
}

/** An integer of at least `least`, or an error naming the flag. */
export function integerFlag(key: string, raw: string, least = 1): number {
  const number = Number(raw);
  if (!Number.isInteger(number) || number < least) {
    throw new Error(`--${flagName(key)} must be an integer ≥ ${least}, got '${raw}'`);
  }
  return number;
}

/** A comma-separated list of integers of at least `least`. */
export const integerListFlag = (key: string, raw: string, least = 1): number[] =>
  raw.split(',').map((item) => integerFlag(key, item, least));
