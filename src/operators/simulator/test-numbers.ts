/**
 * The simulator's test numbers: what a destination makes the virtual operator do. Pure data + a lookup.
 *
 * | destination        | behaviour                                                             |
 * |--------------------|-----------------------------------------------------------------------|
 * | 15550100NNN        | report outcome NNN of the outcome table (e.g. 15550100009 -> Rejected/9) |
 * | 15550199000        | delivered to the handset, but no report ever comes (operators do that)  |
 * | anything else      | delivered to the handset, Retrieved/1 with the simulator's userAgent    |
 *
 * An NNN that is not in the table reports Indeterminate/3. Only Retrieved and Forwarded leave the message on the
 * handset: a Deferred one has not been retrieved yet, and the other outcomes mean the handset does not get it.
 */
import { OUTCOMES, outcomeById, type Outcome } from '../../core/outcomes.ts';

export type SimBehaviour = { report: Outcome | null; deliverToHandset: boolean };

export const NEVER_REPORTS = '15550199000';
const OUTCOME_PREFIX = '15550100';

export function simBehaviour(destination: string): SimBehaviour {
  if (destination === NEVER_REPORTS) return { report: null, deliverToHandset: true };
  if (destination.length === OUTCOME_PREFIX.length + 3 && destination.startsWith(OUTCOME_PREFIX)) {
    const outcome = outcomeById(Number(destination.slice(OUTCOME_PREFIX.length))) ?? OUTCOMES.INDETERMINATE;
    const delivered = outcome === OUTCOMES.RETRIEVED || outcome === OUTCOMES.FORWARDED || outcome === OUTCOMES.DEFERRED;
    return { report: outcome, deliverToHandset: delivered && outcome !== OUTCOMES.DEFERRED };
  }
  return { report: OUTCOMES.RETRIEVED, deliverToHandset: true };
}
