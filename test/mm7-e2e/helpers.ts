/**
 * Helpers of the MM7 end-to-end tests: a gateway whose only operator is an MM7 link to the loopback MMSC peer
 * (test/support/mm7-peer.ts), plus readers for what the peer and the customer sinks receive.
 */
import { expect } from 'vitest';
import { parseContentType, boundaryOf } from '../../src/mime/content-type.ts';
import { parseMultipartBuffer } from '../../src/mime/multipart-reader.ts';
import { DEFAULT_MULTIPART_LIMITS, type ParsedPart } from '../../src/mime/types.ts';
import { parseEnvelope, type ParsedEnvelope } from '../../src/operators/mm7/mm7-envelope.ts';
import { child, childText, findDeep } from '../../src/operators/mm7/mm7-xml.ts';
import type { Mm7Peer, PeerAuth, PostResult, RecordedSubmit } from '../support/mm7-peer.ts';
import { eventually, startTestGateway, status, type Sink, type SinkRequest, type TestGateway } from '../support/gateway.ts';

/** mobileOperatorId of the MM7 operator under test. */
export const OP_ID = 310;
/** Prefix routed to it (the account's own long number 15557770000 also matches; tests send to others). */
export const OP_PREFIX = '1555';
/** Namespace base of the 3GPP MM7 schemas (TS 23.140 schema archive). */
export const NS_BASE = 'http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/';
/** Credentials the gateway uses toward the MMSC. */
export const OUTBOUND = { username: 'vasp-out', password: 'vasp-out-secret' } as const;
/** Credentials the MMSC uses toward POST /mm7/{id}. */
export const INBOUND: PeerAuth = { username: 'mmsc-in', password: 'mmsc-in-secret' };

/** Options of startMm7Gateway. */
export interface Mm7GatewayOptions {
  namespace?: string;
  /** MM7Version (default 6.8.0); `null` leaves the key out so the connector picks it by namespace. */
  version?: string | null;
  vasId?: string;
  /** mm7.expiryFormat (default: the schema's). */
  expiryFormat?: 'relative' | 'absolute';
  /** limits.concurrency (default 4). */
  concurrency?: number;
  /**
   * limits.messagesPerSecond; default 1000. `null` leaves the key out so the schema default (0 = unlimited) applies.
   */
  messagesPerSecond?: number | null;
  reportUrl?: string;
  moUrl?: string;
  /** api.maxBodyBytes (default: the schema's). */
  maxBodyBytes?: number;
  /** More mtConfigs of the test account (see TestConfigOptions). */
  moreMtConfigs?: Record<string, Record<string, unknown>>;
}

/**
 * Start a gateway (SQLite temp file, silent log, 50 ms queue poll) whose one operator is an MM7 link to `peer`,
 * routed by prefix 1555, with short submit retries (100 ms, 200 ms) so that retry paths finish within a test.
 */
export function startMm7Gateway(peer: Mm7Peer, o: Mm7GatewayOptions = {}): Promise<TestGateway> {
  const limits: Record<string, number> = { concurrency: o.concurrency ?? 4 };
  if (o.messagesPerSecond !== null) limits.messagesPerSecond = o.messagesPerSecond ?? 1000;
  const mm7: Record<string, string> = {
    url: peer.url,
    username: OUTBOUND.username,
    password: OUTBOUND.password,
    vaspId: 'vasp-e2e',
    namespace: o.namespace ?? 'REL-6-MM7-1-4',
  };
  if (o.version !== null) mm7.version = o.version ?? '6.8.0';
  if (o.vasId) mm7.vasId = o.vasId;
  if (o.expiryFormat) mm7.expiryFormat = o.expiryFormat;
  const overrides: Record<string, unknown> = {
    operators: [
      {
        id: OP_ID,
        name: 'MM7 Peer Mobile',
        type: 'mm7',
        prefixes: [OP_PREFIX],
        limits,
        mm7,
        inbound: { username: INBOUND.username, password: INBOUND.password },
      },
    ],
    submit: { retrySchedule: ['100ms', '200ms'], maxAge: '1m' },
    queue: { pollInterval: '50ms', leaseTime: '5s' },
  };
  if (o.maxBodyBytes) overrides.api = { maxBodyBytes: o.maxBodyBytes };
  return startTestGateway(overrides, { reportUrl: o.reportUrl, moUrl: o.moUrl, moreMtConfigs: o.moreMtConfigs });
}

/** POST /mm7/{OP_ID} of a gateway. */
export function inboundUrl(gw: TestGateway): string {
  return `${gw.url}/mm7/${OP_ID}`;
}

/** The status document of an MT, once `pred` holds for it. */
export function waitForMt(gw: TestGateway, mtId: number, pred: (doc: any) => boolean, what = 'MT condition'): Promise<any> {
  return eventually(
    async () => {
      const r = await status(gw.url, mtId);
      expect(r.status).toBe(200);
      return pred(r.json) ? r.json : undefined;
    },
    10_000,
    `${what} (mtId ${mtId})`,
  );
}

/** Wait until the MT left the queue toward the operator (submitted with a MessageID, or ended). */
export function waitForSubmitted(gw: TestGateway, mtId: number): Promise<any> {
  return waitForMt(gw, mtId, (d) => d.state === 'submitted' && typeof d.operatorMessageId === 'string', 'submitted');
}

/** Resolve once the peer has recorded at least `n` requests matching `pred`. */
export async function waitForPeer(peer: Mm7Peer, n: number, pred: (r: RecordedSubmit) => boolean = () => true): Promise<RecordedSubmit[]> {
  return eventually(
    async () => {
      const hits = peer.requests.filter(pred);
      return hits.length >= n ? hits : undefined;
    },
    10_000,
    `${n} SubmitReq at the peer`,
  );
}

/** The first To Number of a recorded SubmitReq ('' when unreadable). */
export function recipientOf(r: RecordedSubmit): string {
  const to = r.envelope ? findDeep(r.envelope.operation, 'To') : undefined;
  return childText(to, 'Number') ?? '';
}

/** JSON body of a sink request ({} when not JSON). */
export function jsonOf(r: SinkRequest): any {
  try {
    return JSON.parse(r.body.toString('utf8'));
  } catch {
    return {};
  }
}

/** The REPORT for an mtId at a sink, waiting for it. */
export async function waitForReport(sink: Sink, mtId: number): Promise<SinkRequest> {
  const reqs = await sink.waitFor((all) => all.some((r) => r.url.startsWith('/reports') && jsonOf(r).mtId === mtId));
  return reqs.find((r) => r.url.startsWith('/reports') && jsonOf(r).mtId === mtId)!;
}

/** Strictly parse a multipart body (RFC 2046, no lenient framing) given its Content-Type. */
export function strictParts(contentType: string | undefined, body: Buffer): ParsedPart[] {
  const boundary = boundaryOf(contentType);
  expect(boundary, `boundary in ${contentType}`).toBeTruthy();
  return parseMultipartBuffer(body, { boundary: boundary!, limits: { ...DEFAULT_MULTIPART_LIMITS }, lenient: false });
}

/** Media type and parameters of a Content-Type value. */
export function mediaType(value: string | undefined): { type: string; params: Record<string, string> } {
  return parseContentType(value ?? '');
}

/** A SOAP answer of the gateway, read: envelope, operation name, MM7 status code. */
export interface SoapAnswer {
  env: ParsedEnvelope;
  operation: string;
  statusCode: number | null;
  version: string | undefined;
}

/** Parse the gateway's answer to an inbound request; fails the test when it is not a SOAP envelope in text/xml. */
export function readSoapAnswer(res: PostResult): SoapAnswer {
  expect(String(res.headers['content-type'])).toMatch(/^text\/xml\b/);
  const env = parseEnvelope(res.body);
  const holder = env.fault ? findDeep(env.operation, 'Status') : child(env.operation, 'Status');
  const code = childText(holder, 'StatusCode');
  const rsp = env.fault ? findDeep(env.operation, 'VASPErrorRsp') : env.operation;
  return {
    env,
    operation: env.fault ? 'Fault' : env.operation.local,
    statusCode: env.fault ? env.fault.statusCode : code !== undefined ? Number(code) : null,
    version: rsp ? childText(rsp, 'MM7Version') : undefined,
  };
}

/** The MO the sink received with this subject, waiting for it. */
export async function waitForMo(s: Sink, subject: string): Promise<SinkRequest> {
  const match = (r: SinkRequest): boolean => r.url.startsWith('/mo') && r.body.includes(Buffer.from(JSON.stringify(subject)));
  const reqs = await s.waitFor((all) => all.some(match));
  return reqs.find(match)!;
}

/** Parse an MO webhook (multipart/mixed, JSON part `main` first): the JSON and the decoded content parts. */
export function readMo(r: SinkRequest): { json: any; parts: { type: string; contentType: string; contentId: string; body: Buffer; encoding: string }[] } {
  expect(mediaType(r.headers['content-type']).type).toBe('multipart/mixed');
  const parts = strictParts(r.headers['content-type'], r.body);
  const [main, ...content] = parts;
  expect(main!.contentId).toBe('main');
  expect(mediaType(main!.contentType).type).toBe('application/json');
  return {
    json: JSON.parse(main!.body.toString('utf8')),
    parts: content.map((p) => ({ type: mediaType(p.contentType).type, contentType: p.contentType, contentId: p.contentId, body: p.body, encoding: p.transferEncoding })),
  };
}
