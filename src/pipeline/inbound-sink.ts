/**
 * Inbound operator traffic enters the pipeline here (MM7 DeliverReq / DeliveryReportReq / ReadReplyReq, the
 * simulator's handset MO injection). Each call commits durably before it resolves, so an operator that gets our
 * success answer can forget the message.
 */
import { createHash } from 'node:crypto';
import { newRequestId, type IdAllocator } from '../core/ids.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { normaliseContentId, type MoMessage, type MtMessage, type Part } from '../core/message.ts';
import type { InboundMo, InboundReadReply, InboundReport, InboundSink } from '../operators/connector.ts';
import type { NewBlob, Store, WriteResult, WriteUnit } from '../store/store.ts';
import { outcomeUnit } from './units.ts';

export interface NumberOwner {
  accountId: string;
  moUrl: string | undefined;
}

export interface InboundSinkDeps {
  store: Store;
  commit(unit: WriteUnit): Promise<WriteResult>;
  moIds: IdAllocator;
  nodeId: string;
  /** Who owns a number (short code, long code), or undefined. */
  ownerOf(number: string): NumberOwner | undefined;
  reportUrlFor(accountId: string, mtConfig: string): string | undefined;
  now?: () => number;
  /** Where parking a report is logged (operators' reports for unknown IDs deserve a look). */
  log?: (msg: string, extra?: object) => void;
  /**
   * How long to look again, in ms after each miss, for the MT of a report or read reply whose operator message ID is
   * not known yet (default CORRELATION_RETRY_MS). An MMSC may send a report right after its SubmitRsp, before the
   * submit step has committed the ID that SubmitRsp carried.
   */
  correlationRetryMs?: readonly number[];
}

/**
 * Waits between lookups of an unknown operator message ID: ~2 s in all, enough for the submit step's commit of a
 * SubmitRsp that the report overtook (milliseconds, or the group commit's latency under load), short enough that the
 * operator's HTTP request is answered well within any timeout it has. A delivery report whose ID is still unknown then
 * is parked (Store.parkReport) and applied when an MT carries the ID (redeliverParked); a read reply is answered
 * as unknown (MM7 2005).
 */
export const CORRELATION_RETRY_MS: readonly number[] = [20, 40, 80, 160, 320, 640, 740];

/** How long an MO with an operator message ID is remembered for recognising the operator's resends of it. */
export const MO_RESEND_WINDOW_MS = 24 * 60 * 60 * 1000;

export class PipelineInboundSink implements InboundSink {
  private readonly now: () => number;
  constructor(private readonly deps: InboundSinkDeps) {
    this.now = deps.now ?? Date.now;
  }

  async deliveryReport(ev: InboundReport): Promise<'ok' | 'unknown'> {
    const mt = await this.findMt(ev.operatorId, ev.operatorMessageId);
    if (!mt) {
      // Not known yet, or never ours: kept rather than refused, since an MMSC that gets an error for it may never
      // send it again, and the message would stay `submitted` for good. Durable before the operator hears 'ok'.
      const { operatorId, operatorMessageId, ...report } = ev;
      const kept = await this.deps.store.parkReport({ operatorId, operatorMessageId, report, receivedAt: this.now() });
      // A refusal is logged by the operator's protocol handler, which answers it (MM7: 2005).
      if (kept) this.deps.log?.('delivery report parked: its MessageID matches no message yet', { operatorId, operatorMessageId: operatorMessageId.slice(0, 100) });
      return kept ? 'ok' : 'unknown';
    }
    return this.applyReport(mt, ev);
  }

  /**
   * Apply the parked reports whose message ID an MT now carries, oldest first. Each is consumed in the transaction that
   * applies it (WriteUnit.claimParked): a crash in between leaves it parked, and of several nodes sweeping at once only
   * one applies it. Returns how many were taken.
   */
  async redeliverParked(limit = 100): Promise<number> {
    const parked = await this.deps.store.matchedParkedReports(limit);
    for (const p of parked) {
      // The MT the match chose (created before the report came), not simply the newest with this ID.
      const mt = await this.deps.store.getMt(p.mtId);
      if (!mt) continue;
      const report = p.report as Omit<InboundReport, 'operatorId' | 'operatorMessageId'>;
      await this.applyReport(mt, { ...report, operatorId: p.operatorId, operatorMessageId: p.operatorMessageId }, p.id);
    }
    return parked.length;
  }

  private async applyReport(mt: MtMessage, ev: InboundReport, parkedId?: number): Promise<'ok'> {
    const unit = outcomeUnit(
      mt,
      ev.outcome,
      { nodeId: this.deps.nodeId, reportUrl: this.deps.reportUrlFor(mt.accountId, mt.mtConfig), now: this.now() },
      {
        userAgent: ev.userAgent ?? null,
        eventType: 'report-received',
        detail: { operatorMessageId: ev.operatorMessageId, statusText: ev.statusText ?? null, reportedAt: ev.at ? new Date(ev.at).toISOString() : null },
      },
    );
    // The state change decides, inside the transaction, whether this report is forwarded: of two copies of one report
    // handled at once (operators resend, NOTES quirk 9), or a Deferred racing a Retrieved, only a copy that moves the
    // message forward queues a REPORT; the others are logged as ignored, as a report after the final one is.
    for (const p of unit.mtPatches ?? []) p.required = true;
    if (parkedId !== undefined) unit.claimParked = [parkedId];
    const result = await this.deps.commit(unit);
    // A lost claim means another node applied this parked report: nothing was ignored here.
    if (unit.mtPatches?.length && !result.applied && !result.claimLost) {
      await this.deps.commit({
        events: [
          {
            mtId: mt.mtId,
            at: this.now(),
            type: 'report-ignored',
            node: this.deps.nodeId,
            detail: { reason: 'message already at or past this state', outcomeId: ev.outcome.id, operatorMessageId: ev.operatorMessageId },
          },
        ],
      });
    }
    return 'ok';
  }

  /** The MT an operator message ID belongs to, looking again for a while if it is not known yet (see correlationRetryMs). */
  private async findMt(operatorId: number, operatorMessageId: string): Promise<MtMessage | undefined> {
    const waits = this.deps.correlationRetryMs ?? CORRELATION_RETRY_MS;
    for (let attempt = 0; ; attempt++) {
      const mt = await this.deps.store.findMtByOperatorMessageId(operatorId, operatorMessageId);
      if (mt || attempt >= waits.length) return mt;
      await sleep(waits[attempt]!);
    }
  }

  async readReply(ev: InboundReadReply): Promise<'ok' | 'unknown'> {
    const mt = await this.findMt(ev.operatorId, ev.operatorMessageId);
    if (!mt) return 'unknown';
    await this.deps.commit({
      events: [{ mtId: mt.mtId, at: this.now(), type: 'read-reply', node: this.deps.nodeId, detail: { mmStatus: ev.mmStatus, at: ev.at ?? null } }],
    });
    return 'ok';
  }

  async mo(ev: InboundMo): Promise<{ moId: number }> {
    const t = this.now();
    // An operator that did not get (or did not wait for) our answer sends the same MO again (MM7 peers resend a
    // DeliverReq up to 5 times, NOTES quirk 9). With the operator's own message ID (MM7 LinkedID) we recognise it and
    // answer as the first time, so the customer gets the MO once. Without one there is nothing reliable to match on
    // (TransactionIDs are per request and may restart), and a resend is taken as a new MO. The check reads committed
    // MOs: a copy arriving while the first is still being stored (milliseconds; MMSCs resend after ~10 s) is not
    // recognised.
    if (ev.operatorMessageId) {
      const seen = await this.deps.store.findMoIdByOperatorMessageId(ev.operatorId, ev.operatorMessageId, t - MO_RESEND_WINDOW_MS);
      if (seen !== undefined) {
        await this.deps.commit({
          events: [{ moId: seen, at: t, type: 'resend-ignored', node: this.deps.nodeId, detail: { operatorMessageId: ev.operatorMessageId } }],
        });
        return { moId: seen };
      }
    }
    const moId = await this.deps.moIds.take();
    // Route by the first destination a customer owns (then ccs, bccs): the number decides the account.
    const candidates = [...ev.destinations, ...(ev.ccs ?? []), ...(ev.bccs ?? [])];
    let number: string | null = null;
    let owner: NumberOwner | undefined;
    for (const n of candidates) {
      owner = this.deps.ownerOf(n);
      if (owner) {
        number = n;
        break;
      }
    }
    const blobs: NewBlob[] = [];
    const seen = new Set<string>();
    const parts: Part[] = ev.parts.map((p, i) => {
      let contentId = normaliseContentId(p.contentId) || `part${i + 1}`;
      while (seen.has(contentId)) contentId = `${contentId}-${i + 1}`;
      seen.add(contentId);
      const sha256 = createHash('sha256').update(p.bytes).digest('hex');
      blobs.push({ sha256, bytes: p.bytes });
      return { contentType: p.contentType, contentId, sha256, size: p.bytes.length };
    });
    const mo: MoMessage = {
      moId,
      operatorId: ev.operatorId,
      source: ev.source,
      destinations: ev.destinations,
      ccs: ev.ccs ?? [],
      bccs: ev.bccs ?? [],
      subject: ev.subject ?? null,
      userAgent: ev.userAgent ?? null,
      accountId: owner?.accountId ?? null,
      number,
      state: owner ? 'received' : 'unroutable',
      operatorMessageId: ev.operatorMessageId ?? null,
      receivedAt: t,
      parts,
    };
    const unit: WriteUnit = {
      blobs,
      mos: [mo],
      events: [
        {
          moId,
          at: t,
          type: owner ? 'received' : 'unroutable',
          node: this.deps.nodeId,
          detail: owner ? { accountId: owner.accountId, number, parts: parts.length } : { reason: 'no account owns any destination', destinations: candidates },
        },
      ],
      jobs: [],
    };
    if (owner?.moUrl) {
      // number: the mo step posts to that number's moUrl as configured when it runs.
      unit.jobs!.push({ kind: 'mo', refId: moId, payload: { url: owner.moUrl, requestId: newRequestId(), accountId: owner.accountId, number } });
    } else if (owner) {
      unit.events!.push({ moId, at: t, type: 'mo-not-sent', node: this.deps.nodeId, detail: { reason: 'number has no moUrl' } });
    }
    await this.deps.commit(unit);
    return { moId };
  }
}
