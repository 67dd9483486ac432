/**
 * Assembly: open the store, build connectors, pipeline runners and the HTTP app from one frozen config; start and
 * stop them in the right order. `startGateway` is what `mmsgate serve` and the end-to-end tests run.
 */
import pino, { type Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import type { Server as HttpsServer } from 'node:https';
import { ConfigError, readListenTls, type LoadedConfig } from './config/load.ts';
import type { OperatorConfig } from './config/schema.ts';
import { IdAllocator } from './core/ids.ts';
import { schedule as makeSchedule, type RetrySchedule } from './core/retry-policy.ts';
import { Authenticator } from './api/auth.ts';
import { buildApp } from './api/app.ts';
import { accountSendGates } from './api/account-rate-limit.ts';
import { AccountBook } from './api/account-book.ts';
import { LogThrottle } from './shared/log-throttle.ts';
import { DryRunSlots } from './api/dry-run-slots.ts';
import type { ApiAccount, GatewayContext } from './api/context.ts';
import type { Connector, SubmitRequest } from './operators/connector.ts';
import { SimulatorConnector } from './operators/simulator/simulator-connector.ts';
import { createSimDeliverStep } from './operators/simulator/sim-deliver-step.ts';
import { Mm7Connector } from './operators/mm7/mm7-connector.ts';
import { JobRunner, type Step } from './pipeline/job-runner.ts';
import { createSubmitStep } from './pipeline/submit-step.ts';
import { createMoStep, createReportStep } from './pipeline/webhook-steps.ts';
import { PipelineInboundSink } from './pipeline/inbound-sink.ts';
import type { ConfiguredHere } from './pipeline/not-configured-here.ts';
import { WebhookDispatcher } from './webhooks/webhook-dispatcher.ts';
import { openStore } from './store/open-store.ts';
import { GatewayMetrics } from './observability/metrics.ts';
import { LiveEvents } from './ui/live-events.ts';
import { startHeartbeat } from './cluster/node-registry.ts';
import { startHousekeeping } from './cluster/housekeeping.ts';
import { classifyAddress } from './content/address-guard.ts';
import { startParkedReportSweeper } from './pipeline/parked-report-sweeper.ts';
import { rateLimitedConnector, SharedRateLimiter } from './cluster/shared-rate-limit.ts';
import { createFetcher } from './content/guarded-fetch.ts';
import { RemoteContentCache } from './content/url-cache.ts';
import { StoreUrlCachePort } from './content/store-url-cache-port.ts';
import { prepareContent, type ContentLimits } from './pipeline/prepare-content.ts';
import { GroupCommitter } from './store/group-commit.ts';
import type { JobKind, Store } from './store/store.ts';

export interface Gateway {
  readonly app: FastifyInstance;
  readonly store: Store;
  readonly config: LoadedConfig;
  /** The address it listens on (after start). */
  readonly url: string;
  /** Stop accepting, finish or release work, close everything. */
  stop(): Promise<void>;
  /**
   * listen.tls: read the certificate and key files again and use them for new connections (a renewed certificate,
   * without a restart). Throws a ConfigError, keeping the current ones, when the files cannot be used.
   */
  reloadTls(): void;
  /**
   * Serve these accounts from now on (`mmsgate serve` on SIGHUP): added ones can send at once, removed ones are
   * refused from the next request, changed passwords, mtConfigs, numbers, webhook secrets and send limits hold for
   * every request and job from then on. Messages already accepted keep their account and mtConfig names; a job whose
   * account or mtConfig is gone is passed on like any other one this node's configuration lacks.
   */
  reloadAccounts(accounts: LoadedConfig['accounts']): void;
}

export interface StartOptions {
  logger?: Logger;
  /** Run pipeline workers (default true). The accept-only benchmark turns them off. */
  workers?: boolean;
  logRequests?: boolean;
}

function scheduleOf(s: { retrySchedule: readonly number[]; maxAge: number }): RetrySchedule {
  return makeSchedule(s.retrySchedule.map((ms) => `${ms}ms`), `${s.maxAge}ms`);
}

function buildConnector(op: OperatorConfig, log: Logger, nodeId: string): Connector {
  if (op.type === 'simulator') return new SimulatorConnector(op, nodeId);
  const m = op.mm7!;
  return new Mm7Connector({
    operatorId: op.id,
    url: m.url,
    username: m.username,
    password: m.password,
    vaspId: m.vaspId,
    vasId: m.vasId,
    version: m.version,
    namespace: m.namespace,
    expiry: m.expiry,
    expiryFormat: m.expiryFormat,
    timeoutMs: m.timeout,
    ...(m.ca !== undefined ? { ca: m.ca } : {}),
    maxConcurrent: op.limits.concurrency,
    // Submissions per second are enforced cluster-wide by the SharedRateLimiter around the connector.
    maxMessageBytes: op.maxMessageBytes,
    // Not a child bound to operatorId: every line the connector logs names it already (a second key would repeat it).
    logger: log,
  });
}

export async function startGateway(config: LoadedConfig, opts: StartOptions = {}): Promise<Gateway> {
  const log = opts.logger ?? pino({ level: config.log.level });
  const store = await openStore(config.storeUrl, { poolSize: config.storePoolSize, log: (msg, extra) => log.info(extra ?? {}, msg) });
  const committer = new GroupCommitter(store);
  const metrics = new GatewayMetrics(config.nodeId);
  // The queue's figures are read from the store when /metrics is scraped (cached there), never on the request path.
  metrics.trackJobQueue((now) => store.jobStats(now), { log: (msg, extra) => log.warn(extra ?? {}, msg) });
  // Committed events, fanned out to the sandbox console's live view.
  const live = new LiveEvents();
  const nodeId = config.nodeId;
  const storeLog = (msg: string, extra?: object) => log.info(extra ?? {}, msg);
  const heartbeat = startHeartbeat(store, { id: nodeId, dataCenter: config.node.dataCenter, url: null }, { intervalMs: config.node.heartbeatInterval, log: storeLog });
  const commit = async (u: Parameters<GroupCommitter['submit']>[0]) => {
    let r: Awaited<ReturnType<GroupCommitter['submit']>>;
    try {
      r = await committer.submit(u);
    } catch (err) {
      // Perhaps the store refuses writes (a full disk): the heartbeat's write tells /healthz now, not in up to
      // node.heartbeatInterval.
      heartbeat.probeSoon();
      throw err;
    }
    if (r.applied) {
      metrics.observeCommitted(u);
      live.publish(u);
    }
    return r;
  };

  // Replaced on a reload (reloadAccounts): every lookup below goes through the book, never a copy of it.
  const book = new AccountBook(config.accounts as unknown as ApiAccount[]);
  const reportUrlFor = (accountId: string, mtConfig: string) => book.reportUrlFor(accountId, mtConfig);
  const secretsFor = (accountId: string) => book.secretsFor(accountId);
  const configured: ConfiguredHere = {
    operator: (id) => config.operators.some((o) => o.id === id),
    account: (id) => book.get(id) !== undefined,
    mtConfig: (id, name) => book.hasMtConfig(id, name),
  };

  const housekeeping = startHousekeeping(store, {
    log: storeLog,
    warn: (msg, extra) => log.warn(extra ?? {}, msg),
    retentionMs: config.retention.messages,
    onRun: (counts) => metrics.observeHousekeeping(counts),
  });
  // Per-operator messages/s is a limit for the whole cluster: each live node takes its share (cluster/shared-rate-limit).
  const connectors = new Map<number, Connector>(
    config.operators.map((op) => {
      const c = buildConnector(op, log, nodeId);
      const mps = op.limits.messagesPerSecond;
      return [op.id, mps > 0 ? rateLimitedConnector(c, new SharedRateLimiter({ limit: mps, liveNodes: () => heartbeat.liveNodes() })) : c];
    }),
  );
  // Test mtConfigs (`simulate: true`): a simulator stands in for each operator (a simulator operator's settings, or the
  // defaults), refusing what the operator's connector would refuse before sending, and keeping no handset copies.
  const testConnectors = new Map<number, Connector>(
    config.operators.map((op) => {
      const real = connectors.get(op.id);
      return [
        op.id,
        new SimulatorConnector(op, nodeId, Math.random, Date.now, {
          handsetCopies: false,
          detail: { simulator: true, testMtConfig: true },
          ...(real?.check ? { precheck: (req: SubmitRequest) => real.check!(req) } : {}),
        }),
      ];
    }),
  );
  const runners: JobRunner[] = [];
  // The store tells us when jobs become due: after this node's own commits (in-process) and, on PostgreSQL, after
  // other nodes' (NOTIFY). Wake only the runners those kinds concern (no kinds given: all of them).
  const wakeKinds = (kinds: readonly JobKind[]) =>
    runners.forEach((r) => (kinds.length === 0 || r.kinds.some((k) => kinds.includes(k))) && r.wake());
  const mtIds = new IdAllocator((n) => store.reserveIds('mt', n));
  const moIds = new IdAllocator((n) => store.reserveIds('mo', n), 100);
  const sink = new PipelineInboundSink({ store, commit, moIds, nodeId, ownerOf: (n) => book.ownerOf(n), reportUrlFor, log: (msg, extra) => log.warn(extra ?? {}, msg) });
  const parkedSweeper = startParkedReportSweeper(sink, { log: storeLog });

  const dispatcher = new WebhookDispatcher(
    {
      max4xxAttempts: config.webhooks.max4xxAttempts,
      timeoutMs: config.webhooks.timeout,
      addressPolicy: { allowPrivateAddresses: config.webhooks.allowPrivateAddresses },
    },
    log,
  );
  const rc = config.remoteContent;
  const fetcher = createFetcher({
    policy: { allowPrivateAddresses: rc.allowPrivateAddresses },
    timeoutMs: rc.timeout,
    maxBytes: rc.maxBytes,
    maxRedirects: rc.maxRedirects,
    allowedHosts: rc.allowedHosts,
    userAgent: 'mmsgate',
  });
  const contentCache = new RemoteContentCache({ port: new StoreUrlCachePort(store, commit), fetcher, defaultTtlMs: rc.defaultTtl, maxTtlMs: rc.maxTtl });
  const limitsFor = (operatorId: number): ContentLimits => {
    const op = config.operators.find((o) => o.id === operatorId);
    return {
      maxMessageBytes: op?.maxMessageBytes ?? 614400,
      maxImageWidth: op?.maxImageWidth ?? 1600,
      maxImageHeight: op?.maxImageHeight ?? 1600,
      generateSmil: op?.generateSmil ?? op?.type === 'mm7',
      maxFetchedBytes: config.remoteContent.maxMessageBytes,
    };
  };
  const submitSchedule = scheduleOf(config.submit);
  const webhookDeps = {
    store,
    dispatcher,
    nodeId,
    concurrency: config.webhooks.concurrency,
    reportSchedule: scheduleOf(config.webhooks.reports),
    moSchedule: scheduleOf(config.webhooks.mo),
    secretsFor,
    configured,
    reportUrlFor,
    moUrlFor: (accountId: string, number: string) => book.moUrlFor(accountId, number),
  };
  const steps: Step[] = [
    createSubmitStep({
      store,
      connectors,
      testConnectors,
      schedule: submitSchedule,
      nodeId,
      concurrency: Math.max(...config.operators.map((o) => o.limits.concurrency), 1) * Math.max(config.operators.length, 1),
      reportUrlFor,
      configured,
      limitsFor,
      cache: contentCache,
    }),
    createReportStep(webhookDeps),
    createMoStep(webhookDeps),
    createSimDeliverStep({
      store,
      nodeId,
      schedule: submitSchedule,
      reportUrlFor,
      configured,
      userAgentOf: (id) => config.operators.find((o) => o.id === id)?.simulator?.userAgent ?? 'SimPhone MMS/1.0',
    }),
  ];
  if (opts.workers !== false) {
    for (const step of steps) {
      runners.push(
        new JobRunner(step, {
          store,
          commit,
          owner: `${nodeId}/${step.name}`,
          leaseMs: config.queue.leaseTime,
          pollMs: config.queue.pollInterval,
          batchSize: config.queue.batchSize,
          log,
        }),
      );
    }
  }

  let draining = false;
  const liveNodes = () => heartbeat.liveNodes();
  // accounts[].maxSendsPerSecond is a limit for the whole cluster, split like the operators' limits.
  let sendGates = accountSendGates(config.accounts, liveNodes);
  const ctx: GatewayContext = {
    config,
    nodeId,
    log,
    store,
    auth: new Authenticator<ApiAccount>(book.all(), config.api.authCacheTtl),
    get sendGates() {
      return sendGates;
    },
    mtIds,
    commit,
    sink,
    storeWriteFailure: () => heartbeat.writeFailure(),
    logThrottle: new LogThrottle(),
    isDraining: () => draining,
    metrics,
    dryRunSlots: new DryRunSlots(config.api.maxConcurrentDryRuns),
    prepareContent: (parts, operatorId, bytesOf) => prepareContent(parts, limitsFor(operatorId), { cache: contentCache, bytesOf }),
  };
  const unsubscribe = store.onJobsEnqueued?.((kinds) => wakeKinds(kinds)) ?? (() => undefined);
  if (config.sandbox.enabled && !config.operators.some((o) => o.type === 'simulator')) {
    log.warn('sandbox.enabled has no effect without an operator of type simulator: no /sandbox endpoints are served');
  } else if (config.sandbox.enabled && !config.sandboxDefaults && !isLoopbackHost(config.listen.host)) {
    log.warn({ host: config.listen.host }, 'sandbox.enabled on a non-loopback address: /sandbox takes no credentials (anyone who can reach it can read handset copies and inject MOs)');
  }
  const warnMissingReportUrls = (accounts: readonly ApiAccount[]) => {
    for (const a of accounts) {
      for (const [name, mtc] of Object.entries(a.mtConfigs)) {
        if (!mtc.reportUrl) log.warn({ account: a.id, mtConfig: name }, 'mtConfig has no reportUrl: delivery reports of its messages are not sent');
      }
    }
  };
  warnMissingReportUrls(book.all());
  /** What the gateway holds open besides the HTTP server and the runners. */
  const closeResources = async (): Promise<void> => {
    unsubscribe();
    await housekeeping.stop();
    await parkedSweeper.stop();
    await heartbeat.stop();
    await Promise.all([...connectors.values()].map((c) => c.close()));
    await dispatcher.close();
    await fetcher.close();
    await store.close();
  };
  let app: ReturnType<typeof buildApp>;
  try {
    app = buildApp(ctx, { logRequests: opts.logRequests, live });
  } catch (err) {
    await closeResources().catch(() => {}); // nothing may keep the process alive after a failed start
    throw err;
  }
  let address: string;
  try {
    address = await app.listen({
      host: config.listen.host,
      port: config.listen.port,
      // Fastify names the address by its own https option; the server here comes from app.ts's factory.
      listenTextResolver: (a) => `Server listening at ${config.listenTls ? a.replace(/^http:/, 'https:') : a}`,
    });
    if (config.listenTls) address = address.replace(/^http:/, 'https:');
  } catch (err) {
    // Nothing may keep the process alive after a failed start (the store, its writer thread, timers).
    await app.close().catch(() => {});
    await closeResources().catch(() => {});
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      throw new Error(`${config.listen.host}:${config.listen.port} is already in use: stop what holds it, or pick another port (--port or listen.port)`, { cause: err });
    }
    if (code === 'EACCES') {
      throw new Error(`not allowed to listen on ${config.listen.host}:${config.listen.port}: use a port above 1023 (--port or listen.port)`, { cause: err });
    }
    throw err;
  }
  for (const r of runners) r.start();
  log.info({ address, node: nodeId, store: store.backend }, 'mmsgate listening');

  let stopping: Promise<void> | null = null;
  return {
    app,
    store,
    config,
    url: address,
    reloadAccounts(accounts) {
      if (stopping) throw new Error('the gateway is stopping: nothing to reload');
      const next = accounts as unknown as ApiAccount[];
      book.replace(next);
      ctx.auth.replaceAccounts(next);
      sendGates = accountSendGates(next, liveNodes, undefined, sendGates);
      warnMissingReportUrls(next);
    },
    reloadTls() {
      const tls = config.listen.tls;
      if (!tls || !config.listenTls) throw new ConfigError('listen.tls is not configured: nothing to reload');
      if (stopping) throw new Error('the gateway is stopping: nothing to reload');
      const fresh = readListenTls(tls);
      (app.server as HttpsServer).setSecureContext({ cert: fresh.cert, key: fresh.key, minVersion: fresh.minVersion });
    },
    stop() {
      stopping ??= (async () => {
        draining = true;
        await app.close(); // stop accepting; requests in flight finish (their commits included)
        await Promise.all(runners.map((r) => r.stop()));
        await committer.flush();
        await Promise.all(steps.map((st) => store.releaseLeases(`${nodeId}/${st.name}`).catch(() => 0)));
        await closeResources();
      })();
      return stopping;
    },
  };
}

/** A listen host that only this machine can reach (a name other than localhost counts as reachable). */
function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  try {
    return classifyAddress(host) === 'loopback';
  } catch {
    return false;
  }
}
