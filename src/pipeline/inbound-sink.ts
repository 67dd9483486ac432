/**
 * Inbound operator traffic enters the pipeline here (MM7 DeliverReq / DeliveryReportReq / ReadReplyReq, the
 * simulator's handset MO injection). Each call commits durably before it resolves, so an operator that gets our
 * success answer can forget the message.
 */
import { createHash } from 'node:crypto';
import { newRequestId, type IdAllocator } from '../core/ids.ts';
import { normaliseContentId, type MoMessage, type Part } from '../core/message.ts';
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
}

export class PipelineInboundSink implements InboundSink {
  private readonly now: () => number;
  constructor(private readonly deps: InboundSinkDeps) {
    this.now = deps.now ?? Date.now;
  }

  async deliveryReport(ev: InboundReport): Promise<'ok' | 'unknown'> {
    const mt = await this.deps.store.findMtByOperatorMessageId(ev.operatorId, ev.operatorMessageId);
    if (!mt) return 'unknown';
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
    await this.deps.commit(unit);
    return 'ok';
  }

  async readReply(ev: InboundReadReply): Promise<'ok' | 'unknown'> {
    const mt = await this.deps.store.findMtByOperatorMessageId(ev.operatorId, ev.operatorMessageId);
    if (!mt) return 'unknown';
    await this.deps.commit({
      events: [{ mtId: mt.mtId, at: this.now(), type: 'read-reply', node: this.deps.nodeId, detail: { mmStatus: ev.mmStatus, at: ev.at ?? null } }],
    });
    return 'ok';
  }

  async mo(ev: InboundMo): Promise<{ moId: number }> {
    const moId = await this.deps.moIds.take();
    const t = this.now();
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
      unit.jobs!.push({ kind: 'mo', refId: moId, payload: { url: owner.moUrl, requestId: newRequestId(), accountId: owner.accountId } });
    } else if (owner) {
      unit.events!.push({ moId, at: t, type: 'mo-not-sent', node: this.deps.nodeId, detail: { reason: 'number has no moUrl' } });
    }
    await this.deps.commit(unit);
    return { moId };
  }
}
