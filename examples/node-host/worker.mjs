// Runs the connector in a worker_threads Worker. The shim's outgoing HTTP is
// synchronous (its own I/O thread does the work while the calling thread
// waits), so a connector call blocks the thread it runs on for as long as
// its HTTP exchanges take; here that is the worker, and the main thread's
// event loop stays free.
//
// Main thread:  const c = await startConnector();
//               const products = await c.call('listProducts', settings);
//               c.close();
// Operations are the connector's exports in camelCase (describe,
// planNetwork, testConnection, listProducts, listCompanies, listContracts,
// syncOrganization, endLine). Before each operation that takes settings, the worker
// asks the connector's planNetwork(settings) for the endpoints to allow,
// unless startConnector was given `allow`. A failed call rejects with an
// Error whose `payload` is the connector-error `{tag, val}` (no payload:
// the component trapped; start a new connector).
import { inspect } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

/**
 * Starts a worker with the connector loaded from gen/.
 * - `allow`: `{scheme, authority}` endpoints to allow instead of each
 *   call's network plan;
 * - `printLog`: print the component's log lines, secrets redacted, to
 *   stderr (default: env SEATSYNC_NODE_HOST_LOG=1).
 */
export async function startConnector({ allow, printLog } = {}) {
  printLog ??= process.env.SEATSYNC_NODE_HOST_LOG === '1';
  const worker = new Worker(new URL(import.meta.url), { workerData: { allow, printLog } });
  const host = new ConnectorHost(worker);
  await host.ready;
  return host;
}

class ConnectorHost {
  /** Every line the component emitted, `{level, message}`, unredacted: keep it to yourself. */
  log = [];
  /** Requests the allow-list let through to the shim. */
  forwarded = 0;
  /** Requests the allow-list refused: `{method, scheme, authority, path, reason}`. */
  denied = [];
  #worker;
  #pending = new Map();
  #next = 0;

  constructor(worker) {
    this.#worker = worker;
    this.ready = new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    worker.on('message', (reply) => this.#settle(reply));
    worker.on('error', (error) => this.#failAll(error));
    worker.on('exit', (code) => this.#failAll(new Error(`the connector worker exited (${code})`)));
  }

  /** Calls connector operation `op`; resolves to its result. */
  call(op, ...args) {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, op, args });
    });
  }

  /** Stops the worker. */
  async close() {
    await this.#worker.terminate();
  }

  #settle({ id, ok, value, message, payload, log, forwarded, denied }) {
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    this.log.push(...log);
    this.forwarded += forwarded;
    this.denied.push(...denied);
    if (ok) return pending.resolve(value);
    pending.reject(Object.assign(new Error(message), payload === undefined ? {} : { payload }));
  }

  #failAll(error) {
    for (const { reject } of this.#pending.values()) reject(error);
    this.#pending.clear();
  }
}

async function serve({ allow, printLog }) {
  const { Policy, connectorImports, loadConnector, redact } = await import('./host.mjs');
  const policy = new Policy();
  let log = [];
  let secrets = [];
  const onLog = (level, message) => {
    log.push({ level, message });
    if (printLog) console.error(`[connector ${level}] ${redact(message, secrets)}`);
  };
  const connector = await loadConnector(connectorImports({ policy, onLog }));
  const secretKeys = new Set(
    connector.describe().settings.filter((s) => s.secret).map((s) => s.key),
  );

  parentPort.on('message', ({ id, op, args }) => {
    log = [];
    Object.assign(policy, { endpoints: [], readOnly: false, forwarded: 0, denied: [] });
    let reply;
    try {
      if (typeof connector[op] !== 'function') throw new Error(`no connector operation ${op}`);
      if (op !== 'describe' && op !== 'planNetwork') {
        const settings = args[0];
        secrets = settings.filter(([key]) => secretKeys.has(key)).map(([, value]) => value);
        const plan = connector.planNetwork(settings);
        secrets.push(...plan.secrets);
        policy.endpoints = allow ?? plan.endpoints;
        policy.readOnly = op === 'syncOrganization' && args[1].dryRun;
      }
      reply = { id, ok: true, value: connector[op](...args) };
    } catch (error) {
      const payload = error?.payload;
      const message = payload
        ? `${op}: ${payload.tag}: ${typeof payload.val === 'string' ? payload.val : inspect(payload.val)}`
        : `${op}: ${error?.stack ?? error}`;
      reply = { id, ok: false, message, payload };
    }
    parentPort.postMessage({ ...reply, log, forwarded: policy.forwarded, denied: policy.denied });
  });
  parentPort.postMessage('ready');
}

if (!isMainThread) await serve(workerData);
