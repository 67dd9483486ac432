/**
 * Validation issues as a person editing the YAML file reads them: the path of the bad key, then what to do. zod's own
 * wording names types ("expected string, received undefined") and lists unknown keys without saying what was meant;
 * an operator's typo of an optional key (`reporturl`) must be answered with the key they meant.
 */
import type { z } from 'zod';

type Issue = z.core.$ZodIssue;

/** One line per issue, `path: message`, the path naming the offending key itself (an unknown key included). */
export function describeIssues(schema: z.ZodType, issues: readonly Issue[]): string[] {
  // A value of the wrong type also fails the checks meant for the right one (an array's length read off a string):
  // only the type is worth saying.
  const wrongType = new Set(issues.filter((i) => i.code === 'invalid_type').map((i) => i.path.join('.')));
  return issues.flatMap((issue) => {
    const at = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys(schema, issue.path);
      return issue.keys.map((key) => `  ${[...at, key].join('.')}: ${unknownKey(key, known)}`);
    }
    if (issue.code !== 'invalid_type' && wrongType.has(issue.path.join('.'))) return [];
    return [`  ${at.join('.') || '(top level)'}: ${message(schema, issue)}`];
  });
}

function message(schema: z.ZodType, issue: Issue): string {
  // `input` is there because loadConfig parses with reportInput; only its type is used, never printed (a password).
  if (issue.code === 'invalid_value' && issue.input === undefined) {
    return `missing: this key is required (one of ${issue.values.map(String).join(', ')})`;
  }
  if (issue.code !== 'invalid_type') return issue.message;
  if (issue.input === undefined) return `missing: this key is required (${issue.expected})`;
  switch (issue.expected) {
    case 'string':
      // The value is not repeated: it may be a password.
      if (typeof issue.input === 'number') return 'must be text, and YAML read a number: write it in quotes';
      break;
    case 'number':
      if (typeof issue.input === 'string') return 'must be a number, written without quotes or units';
      break;
    case 'boolean':
      return 'must be true or false';
    case 'array':
      return 'must be a list (in YAML, each item on a line of its own starting with "- ", or [a, b])';
    case 'object': {
      const keys = knownKeys(schema, issue.path);
      if (!keys.length) return 'must be a mapping (key: value)';
      const last = String(issue.path.at(-1));
      // `mtConfigs: { reportUrl: ... }`: the name level was left out, so the key was read as an mtConfig's name.
      const nameLeftOut = keys.includes(last) ? ` (${last} was read as a name here: is the name above it missing?)` : '';
      return `must be a mapping with the keys ${keys.join(', ')}${nameLeftOut}`;
    }
  }
  return issue.message;
}

function unknownKey(key: string, known: string[]): string {
  const meant = suggestion(key, known);
  if (meant) return `unknown key (did you mean ${meant}?)`;
  return known.length ? `unknown key; the keys here are ${known.join(', ')}` : 'unknown key';
}

/** The known key a typo most likely meant: same letters in another case or spelling, or at most 2 edits away. */
function suggestion(key: string, known: string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[-_ ]/g, '');
  const same = known.find((k) => norm(k) === norm(key));
  if (same) return same;
  let best: { key: string; distance: number } | undefined;
  for (const k of known) {
    const distance = editDistance(norm(key), norm(k));
    // One edit for short keys: two would turn `foo` into `log`.
    if (distance <= (k.length <= 4 ? 1 : 2) && (!best || distance < best.distance)) best = { key: k, distance };
  }
  return best?.key;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/** The keys the schema allows at `path` (array indexes and record keys stepped through), or [] when unknown. */
function knownKeys(schema: z.core.$ZodType, path: readonly PropertyKey[]): string[] {
  const def = schema._zod.def as unknown as Record<string, unknown> & { type: string };
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'nonoptional':
    case 'catch':
      return knownKeys(def.innerType as z.core.$ZodType, path);
    case 'pipe':
      return knownKeys(def.in as z.core.$ZodType, path);
    case 'union':
      return [...new Set((def.options as z.core.$ZodType[]).flatMap((o) => knownKeys(o, path)))];
    case 'array':
      return path.length ? knownKeys(def.element as z.core.$ZodType, path.slice(1)) : [];
    case 'record':
      return path.length ? knownKeys(def.valueType as z.core.$ZodType, path.slice(1)) : [];
    case 'object': {
      const shape = def.shape as Record<string, z.core.$ZodType>;
      if (!path.length) return Object.keys(shape);
      const next = shape[String(path[0])];
      return next ? knownKeys(next, path.slice(1)) : [];
    }
    default:
      return [];
  }
}
