/**
 * `mmsgate serve`: load the config, start the gateway, stop gracefully on SIGTERM/SIGINT (stop accepting, finish
 * jobs in flight, release leases, close the store) so a restarted node resumes where it left off.
 */
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';
import { loadConfig, ConfigError, SANDBOX_ACCOUNT } from '../config/load.ts';
import { startGateway } from '../gateway.ts';

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

/** Runs until a signal; returns -1 so main leaves the exit to the shutdown path. */
export async function runServe(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
    },
    strict: true,
  });
  const file = values.config ?? io.env.MMSGATE_CONFIG;
  let port: number | undefined;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      io.stderr.write(`mmsgate serve: --port must be 0-65535, got ${values.port}\n`);
      return 2;
    }
  }
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
  reload = () => {
    if (!config.listenTls) {
      gw.app.log.info('SIGHUP: nothing to reload (no listen.tls); the node keeps running');
      return;
    }
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
