/**
 * `mmsgate serve`: load the config, start the gateway, stop gracefully on SIGTERM/SIGINT (stop accepting, finish
 * jobs in flight, release leases, close the store) so a restarted node resumes where it left off.
 */
import { createServer } from 'node:net';
import { changedSettings, loadConfig, ConfigError, SANDBOX_ACCOUNT, type LoadedConfig } from '../config/load.ts';
import { startGateway, type Gateway } from '../gateway.ts';
import { intOption, parseCommandLine, usageFailure, UsageError, type CliIo } from './args.ts';

const SYNOPSIS = 'usage: mmsgate serve [--config FILE] [--port N] [--host H] [--data-dir DIR]';

const USAGE = `${SYNOPSIS}
  Runs the gateway until SIGTERM or SIGINT. SIGHUP reloads the accounts from the configuration file and the TLS
  certificate; other settings take effect at a restart.
  --config FILE   the YAML configuration (or $MMSGATE_CONFIG); without one, the sandbox on 127.0.0.1:8080
  --port N        listen on this port instead (0: any free one)
  --host H        listen on this address instead
  --data-dir DIR  where the SQLite store and other data live
`;

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  port: { type: 'string', short: 'p' },
  host: { type: 'string' },
  'data-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Runs until a signal; returns -1 so main leaves the exit to the shutdown path (2: a wrong command line). */
export async function runServe(argv: string[], io: CliIo): Promise<number> {
  let values;
  let port: number | undefined;
  try {
    values = parseCommandLine(argv, OPTIONS, false).values;
    port = intOption(values.port, 'port', 0, 65535);
  } catch (e) {
    if (e instanceof UsageError) return usageFailure(io, 'serve', e.message, SYNOPSIS);
    throw e;
  }
  if (values.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  const file = values.config ?? io.env.MMSGATE_CONFIG;
  if (port === 0 && !file) {
    // The sandbox's report and MO URLs point at this very server, so they need the real port before start.
    port = await freePort(values.host ?? '127.0.0.1');
  }
  let config;
  try {
    config = loadConfig({ file, port, host: values.host, dataDir: values['data-dir'] });
  } catch (e) {
    if (e instanceof ConfigError) {
      io.stderr.write(`mmsgate serve: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (values['data-dir'] !== undefined && config.store !== undefined) {
    io.stderr.write(`mmsgate serve: --data-dir sets dataDir, but the configuration names store ${redactStoreUrl(config.store)}: the store stays there\n`);
  }
  // SIGHUP means "reload" (a renewed TLS certificate: replace the files, then `kill -HUP <pid>`), never "stop": node's
  // default would end the process at once, without the drain SIGTERM gets (in-flight requests, leases). Installed
  // before the start so a SIGHUP during it cannot kill the node either.
  let reload: (() => void) | undefined;
  process.on('SIGHUP', () => (reload ? reload() : io.stderr.write('mmsgate serve: SIGHUP while starting: nothing reloaded\n')));
  const gw = await startGateway(config);
  let current = config;
  reload = () => {
    if (!file && !config.listenTls) {
      gw.app.log.info('SIGHUP: nothing to reload (no configuration file, no listen.tls); the node keeps running');
      return;
    }
    if (file) current = reloadAccounts(gw, current, () => loadConfig({ file, port, host: values.host, dataDir: values['data-dir'], previous: current }));
    if (!config.listenTls) return;
    try {
      gw.reloadTls();
      gw.app.log.info('TLS certificate and key reloaded');
    } catch (err) {
      gw.app.log.error({ error: (err as Error).message }, 'TLS reload failed; the current certificate stays in use');
    }
  };
  if (config.sandboxDefaults) {
    io.stdout.write(
      `\nmmsgate sandbox on ${gw.url}\n` +
        `  account: ${SANDBOX_ACCOUNT.id}   password: ${SANDBOX_ACCOUNT.password}   (Basic ${Buffer.from(`${SANDBOX_ACCOUNT.id}:${SANDBOX_ACCOUNT.password}`).toString('base64')})\n` +
        `  send:    POST ${gw.url}/mms/v2/send   (source 88600, any destination starting with 1)\n` +
        `  inbox:   GET  ${gw.url}/sandbox/inbox   (delivery reports and MO land here)\n` +
        `  console: ${gw.url}/sandbox   (in a browser: send, inject an MO, watch events live)\n\n`,
    );
  }
  let signals = 0;
  const shutdown = (sig: string) => {
    if (++signals > 1) process.exit(1);
    gw.app.log.info({ signal: sig }, 'shutting down');
    gw.stop().then(
      () => process.exit(0),
      (err) => {
        gw.app.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  return -1;
}

/**
 * SIGHUP: read the configuration file again and serve its accounts (Gateway.reloadAccounts). A file that no longer
 * loads changes nothing (the error is logged, naming the key, and the node goes on as it was). Settings other than
 * accounts are not applied while running: the ones that changed are named, to take effect at the next restart.
 * Returns the configuration now in effect for accounts (the one to compare the next reload with).
 */
function reloadAccounts(gw: Gateway, current: LoadedConfig, load: () => LoadedConfig): LoadedConfig {
  let next: LoadedConfig;
  try {
    next = load();
  } catch (err) {
    gw.app.log.error({ error: (err as Error).message }, 'SIGHUP: the configuration file does not load; nothing reloaded, the node goes on as it was');
    return current;
  }
  try {
    gw.reloadAccounts(next.accounts);
  } catch (err) {
    gw.app.log.error({ error: (err as Error).message }, 'SIGHUP: accounts not reloaded');
    return current;
  }
  const before = new Set(current.accounts.map((a) => a.id));
  const after = new Set(next.accounts.map((a) => a.id));
  gw.app.log.info(
    { accounts: after.size, added: [...after].filter((id) => !before.has(id)), removed: [...before].filter((id) => !after.has(id)) },
    'accounts reloaded',
  );
  const pending = changedSettings(current, next);
  if (pending.length > 0) {
    gw.app.log.warn({ settings: pending }, 'SIGHUP: these settings changed in the configuration file and take effect at the next restart');
  }
  // Settings still compare with what is running: keep reporting them until a restart applies them.
  return { ...next, settingsDigests: current.settingsDigests };
}

/** A port that is free right now on `host` (the OS picks it). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const p = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(p));
    });
  });
}

/** A store URL for a message: a PostgreSQL password is not shown. */
function redactStoreUrl(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:/@]*):[^@]*@/, '$1:***@');
}
