/**
 * What the HTTP layer needs from the rest of the gateway. Built once by src/gateway.ts and passed down.
 */
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.ts';
import type { AccountConfig } from '../config/schema.ts';
import type { IdAllocator } from '../core/ids.ts';
import type { InboundSink } from '../operators/connector.ts';
import type { Store, WriteResult, WriteUnit } from '../store/store.ts';
import type { AccountSendGate } from './account-rate-limit.ts';
import type { Authenticator } from './auth.ts';
import type { DryRunSlots } from './dry-run-slots.ts';
import type { Part } from '../core/message.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import type { PreparedContent } from '../pipeline/prepare-content.ts';
import type { LogThrottle } from '../shared/log-throttle.ts';

/** An account as the API sees it: the configured one with its password hashed. */
export type ApiAccount = AccountConfig & { passwordHash: string };

export interface GatewayContext {
  readonly config: LoadedConfig;
  readonly nodeId: string;
  readonly log: Logger;
  readonly store: Store;
  readonly auth: Authenticator<ApiAccount>;
  readonly mtIds: IdAllocator;
  /** Commit a unit of work durably (group commit); resolves once it is on disk. */
  commit(unit: WriteUnit): Promise<WriteResult>;
  /** Where inbound operator traffic (MM7, simulator MO injection) goes. */
  readonly sink: InboundSink;
  /**
   * Why this node's store refuses writes, if its last periodic write (the node heartbeat) failed and none has
   * succeeded since (cluster/node-registry.ts); the health check answers 503 then.
   */
  storeWriteFailure(): string | undefined;
  /** Errors that repeat for every request while they last are logged once per window (shared/log-throttle.ts). */
  readonly logThrottle: LogThrottle;
  /** True while this node stops accepting (graceful shutdown). */
  isDraining(): boolean;
  /**
   * Per-account send rates by account id (api/account-rate-limit.ts); undefined when no account has one. An account
   * missing from the map is unlimited.
   */
  readonly sendGates?: ReadonlyMap<string, AccountSendGate>;
  /** Prometheus metrics of this node. */
  readonly metrics: GatewayMetrics;
  /** Dry runs in progress on this node, at most api.maxConcurrentDryRuns. */
  readonly dryRunSlots: DryRunSlots;
  /** Fetch, add SMIL and adapt as the submit step would (for the send API's dry run). */
  prepareContent(parts: readonly Part[], operatorId: number, bytesOf: (sha256: string) => Promise<Buffer | undefined>): Promise<PreparedContent>;
}
