/**
 * Markdown tables of the error registry and the outcome table, as published in docs/errors.md and docs/outcomes.md.
 */
import { ERRORS, type ErrorDef } from './errors.ts';
import { allOutcomes } from './outcomes.ts';

export function errorTable(): string {
  const rows = Object.entries(ERRORS as Record<string, ErrorDef>).map(
    ([code, d]) => `| \`${code}\` | ${d.status} | ${d.retryable ? 'yes' : 'no'} | ${d.description.replace(/\|/g, '\\|')} |`,
  );
  return ['| code | HTTP status | retry helps | description |', '|---|---|---|---|', ...rows].join('\n');
}

export function outcomeTable(): string {
  const rows = allOutcomes().map(
    (o) => `| ${o.id} | ${o.status} | ${o.description} | ${o.final ? 'yes' : 'no'} | ${o.source} |`,
  );
  return ['| outcomeId | status | outcomeDescription | final | decided by |', '|---|---|---|---|---|', ...rows].join('\n');
}
