/**
 * `mmsgate/client`: what a customer's system needs to talk to mmsgate (or OpenMarket HTTP MMS v2): the sending
 * client, the webhook receivers and Standard Webhooks verification. Imports nothing from the gateway's server code.
 */
export { MmsClient, parseRetryAfter } from './mms-client.ts';
export type { MmsClientOptions, SendResult, MtStatus, MtStatusEvent } from './mms-client.ts';
export { MmsApiError, MmsNetworkError } from './errors.ts';
export type { AttemptFailure } from './errors.ts';
export { buildSendBody, contentTypeForFile, ContentIdAllocator, REMOTE_CONTENT_TYPE } from './request-body.ts';
export type { SendRequest, SendPart, TextPart, FilePart, DataPart, UrlPart, BuiltSend } from './request-body.ts';
export { DnsCache, clampDnsTtl, systemResolver, MAX_DNS_TTL_MS, DEFAULT_DNS_TTL_MS } from './dns-cache.ts';
export type { Resolver, ResolvedAddress } from './dns-cache.ts';
export {
  parseReport,
  parseMo,
  parseMoInfo,
  processWebhook,
  createWebhookHandler,
  webhookMiddleware,
  WebhookPayloadError,
} from './webhooks.ts';
export type {
  DeliveryReport,
  MoInfo,
  MoPart,
  MoMessage,
  WebhookMeta,
  WebhookHandlerOptions,
  WebhookResult,
  MiddlewareRequest,
} from './webhooks.ts';
export { parseMultipart, parseContentType, decodeQuotedPrintable, MimeParseError } from './mime-parse.ts';
export type { MimePart, MimeLimits } from './mime-parse.ts';
export {
  signWebhook,
  verifyWebhook,
  generateWebhookSecret,
  WebhookVerificationError,
  DEFAULT_TOLERANCE_SEC,
} from '../shared/standard-webhooks.ts';
export type { VerifyOptions, WebhookVerificationReason, HeaderSource } from '../shared/standard-webhooks.ts';
