// What a host gives the seatsync connector component, and how it loads it:
// the WASI imports from @bytecodealliance/preview2-shim, except for three
// the host supplies itself:
// - `seatsync:psa/log` `emit`, which collects the component's log lines;
// - `wasi:http/outgoing-handler` `handle`, wrapped to enforce an allow-list
//   (the shim alone sends anywhere);
// - `wasi:cli/environment` (the shim's hands the component all of
//   process.env, secrets included) and `wasi:cli/exit` (the shim's ends the
//   process).
//
// The shim's outgoing HTTP is synchronous: load and call the connector off
// the main thread (worker.mjs does).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cli, clocks, http, io, random } from '@bytecodealliance/preview2-shim';

/** Where `npm run build` writes the transpiled component. */
export const GEN_DIR = fileURLToPath(new URL('./gen/', import.meta.url));

/** The contract versions this host runs: seatsync:psa 0.2.x. */
export const CONNECTOR_EXPORT = /^seatsync:psa\/connector@0\.2\.\d+$/;

/**
 * What the outgoing-handler wrapper lets through, and what it saw. A host
 * sets `endpoints` before each call to the `endpoints` of the connector's
 * own `plan-network(settings)` for that call's settings.
 */
export class Policy {
  /** `{scheme, authority, role}` records, as `plan-network` returns them. */
  endpoints = [];
  /** A dry run: refuse every method but GET and HEAD to `api` endpoints. */
  readOnly = false;
  /** Requests handed to the shim. */
  forwarded = 0;
  /** Refused requests: `{method, scheme, authority, path, reason}`. */
  denied = [];
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

function hostOf(authority) {
  return authority.startsWith('[') ? authority.slice(0, authority.indexOf(']') + 1) : authority.split(':')[0];
}

/** Why `policy` refuses the request, or `undefined` when it allows it. */
export function refusal(policy, { method, scheme, authority }) {
  if (!authority) return 'no authority';
  const endpoint = policy.endpoints.find(
    (e) => e.scheme.toLowerCase() === scheme && e.authority.toLowerCase() === authority,
  );
  if (!endpoint) return `${scheme}://${authority} is not in the allow-list`;
  if (scheme !== 'https' && !(scheme === 'http' && LOOPBACK.has(hostOf(authority)))) {
    return `${scheme} is allowed for loopback testing only`;
  }
  // A write goes to the PSA's API (role `api`; an endpoint without a role
  // is one); sign-in and lookup endpoints (role `auth`) change no data.
  const write = method !== 'GET' && method !== 'HEAD' && (endpoint.role ?? 'api') === 'api';
  if (policy.readOnly && write) return `${method} to the API in a dry run`;
  return undefined;
}

/**
 * Wraps the shim's `handle(request, options)`: a request outside the
 * policy is refused with the `HTTP-request-denied` error code (the
 * connector reports it as a transport error) and never reaches `handle`.
 */
export function guardedHandle(handle, policy) {
  return (request, options) => {
    const m = request.method();
    const s = request.scheme();
    const facts = {
      method: (m.tag === 'other' ? m.val : m.tag).toUpperCase(),
      // The shim sends a request without a scheme as https.
      scheme: s === undefined ? 'https' : s.tag === 'other' ? s.val.toLowerCase() : s.tag.toLowerCase(),
      authority: (request.authority() ?? '').toLowerCase(),
    };
    const reason = refusal(policy, facts);
    if (reason !== undefined) {
      policy.denied.push({ ...facts, path: request.pathWithQuery(), reason });
      throw { tag: 'HTTP-request-denied' };
    }
    policy.forwarded += 1;
    return handle(request, options);
  };
}

/**
 * The component's imports, under their unversioned names. `onLog(level,
 * message)` receives each `emit`.
 */
export function connectorImports({ policy, onLog }) {
  return {
    'seatsync:psa/log': { emit: (level, message) => onLog(level, message) },
    'wasi:http/outgoing-handler': { handle: guardedHandle(http.outgoingHandler.handle, policy) },
    'wasi:http/types': http.types,
    'wasi:cli/environment': {
      getEnvironment: () => [],
      getArguments: () => [],
      initialCwd: () => undefined,
    },
    'wasi:cli/exit': {
      exit() {
        throw new Error('the connector called wasi:cli/exit');
      },
    },
    'wasi:cli/stdin': cli.stdin,
    'wasi:cli/stdout': cli.stdout,
    'wasi:cli/stderr': cli.stderr,
    'wasi:cli/terminal-input': cli.terminalInput,
    'wasi:cli/terminal-output': cli.terminalOutput,
    'wasi:cli/terminal-stdin': cli.terminalStdin,
    'wasi:cli/terminal-stdout': cli.terminalStdout,
    'wasi:cli/terminal-stderr': cli.terminalStderr,
    'wasi:clocks/monotonic-clock': clocks.monotonicClock,
    'wasi:io/error': io.error,
    'wasi:io/poll': io.poll,
    'wasi:io/streams': io.streams,
    'wasi:random/insecure-seed': random.insecureSeed,
  };
}

/** Instantiates the transpiled component; returns its `connector` exports. */
export async function loadConnector(imports, genDir = GEN_DIR) {
  const { instantiate } = await import(pathToFileURL(join(genDir, 'seatsync.js')).href);
  const root = await instantiate(
    async (path) => WebAssembly.compile(await readFile(join(genDir, path))),
    imports,
  );
  const name = Object.keys(root).find((key) => CONNECTOR_EXPORT.test(key));
  if (name === undefined) throw new Error(`no seatsync:psa/connector@0.2.x export in ${genDir}`);
  return root[name];
}

/** Replaces each secret (of at least 4 characters) in `text` by `[redacted]`. */
export function redact(text, secrets) {
  return secrets
    .filter((secret) => secret.length >= 4)
    .reduce((out, secret) => out.split(secret).join('[redacted]'), text);
}
