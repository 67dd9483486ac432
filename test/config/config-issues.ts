/** The lines of the ConfigError loadConfig throws for `raw`, without the "invalid configuration:" heading; [] if valid. */
import { loadConfig } from '../../src/config/load.ts';

export function configIssues(raw: Record<string, unknown>): string[] {
  try {
    loadConfig({ raw: raw as never });
  } catch (e) {
    return (e as Error).message.split('\n').slice(1);
  }
  return [];
}
