// The connector component under Node, against a running ConnectWise
// simulator named by SEATSYNC_SIM_* (see the README).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startConnector } from '../worker.mjs';

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: start the simulator and set SEATSYNC_SIM_* (see README.md)`);
  return value;
}

const site = env('SEATSYNC_SIM_SITE'); // http://127.0.0.1:PORT
const privateKey = env('SEATSYNC_SIM_PRIVATE_KEY');
const settings = [
  ['site', site],
  ['company-id', env('SEATSYNC_SIM_COMPANY_ID')],
  ['public-key', env('SEATSYNC_SIM_PUBLIC_KEY')],
  ['private-key', privateKey],
  ['client-id', env('SEATSYNC_SIM_CLIENT_ID')],
];
const authority = new URL(site).host;
// The simulator's clock (seatsync-sim --now) starts on this day.
const TODAY = '2026-01-15';

let connector;
let planSecrets = [];
before(async () => {
  connector = await startConnector();
});
after(async () => {
  await connector?.close();
});

test('describe: the ConnectWise connector and its settings', async () => {
  const d = await connector.call('describe');
  assert.equal(d.name, 'seatsync ConnectWise connector');
  assert.equal(d.psa, 'ConnectWise Manage');
  assert.deepEqual(
    d.settings.map((s) => [s.key, s.secret]),
    [
      ['site', false],
      ['company-id', false],
      ['public-key', false],
      ['private-key', true],
      ['client-id', false],
      ['codebase', false],
    ],
  );
  assert.deepEqual(
    d.lineOptions.map((o) => o.key),
    ['bill-method', 'taxable'],
  );
});

test('plan-network: the simulator, and the secrets to redact', async () => {
  const plan = await connector.call('planNetwork', settings);
  // `role` is new in 0.2 (api | auth); a component without it has API endpoints only.
  const endpoints = plan.endpoints.map((e) => ({ ...e, role: e.role ?? 'api' }));
  assert.deepEqual(endpoints, [{ scheme: 'http', authority, role: 'api' }]);
  assert.ok(plan.secrets.length > 0, 'the Authorization value derived from the keys');
  planSecrets = plan.secrets;
});

test('plan-network: unusable settings are invalid-config', async () => {
  const noSite = settings.filter(([key]) => key !== 'site');
  await assert.rejects(connector.call('planNetwork', noSite), (e) => e.payload?.tag === 'invalid-config');
});

test('test-connection: ok, through the allow-list', async () => {
  const before = connector.forwarded;
  const info = await connector.call('testConnection', settings);
  assert.equal(info.endpoint, `${site}/v4_6_release/apis/3.0`);
  assert.match(info.psaVersion, /^v\d{4}\./);
  assert.ok(connector.forwarded > before, 'requests went through the wrapper');
  assert.deepEqual(connector.denied, []);
});

test('list-products: the whole demo catalog, all pages', async () => {
  const products = await connector.call('listProducts', settings);
  assert.equal(products.length, 1234);
  const ids = products.map((p) => p.id);
  assert.equal(typeof ids[0], 'bigint');
  assert.deepEqual(ids, [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), 'ordered by id');
  const business = products.find((p) => p.id === 19n);
  assert.equal(business.inactive, false);
  assert.equal(business.billableAsLine, true);
});

test('sync-organization, dry run: Alpine Ski House plans one update and writes nothing', async () => {
  // fixtures/demo: pe-100671 -> company 273, agreement 119; advanced (product
  // 20) has 64 active users, business (product 19) 10.
  const report = await connector.call('syncOrganization', settings, {
    companyId: 273n,
    contractId: 119n,
    lines: [
      { packageKey: 'advanced', productId: 20n, quantity: 64, options: [['bill-method', 'billable'], ['taxable', 'true']] },
      { packageKey: 'business', productId: 19n, quantity: 10, options: [] },
    ],
    dryRun: true,
    today: TODAY,
    startDate: TODAY,
    updateQuantities: true,
    createMissing: true,
  });
  assert.equal(report.dryRun, true);
  assert.deepEqual(
    report.lines.map((l) => [l.packageKey, l.quantity, l.outcome, l.lineId]),
    [
      ['advanced', 64, { tag: 'updated', val: { previousQuantity: '60' } }, 107n],
      ['business', 10, { tag: 'unchanged' }, 109n],
    ],
  );
  assert.ok(report.requests >= 1);
  assert.equal(report.writes, 0);
  assert.deepEqual(connector.denied, [], 'the connector did not even try a write');
});

test('the allow-list refuses what the plan does not name, before sending', async () => {
  const fenced = await startConnector({ allow: [{ scheme: 'https', authority: 'na.myconnectwise.net' }] });
  try {
    await assert.rejects(fenced.call('testConnection', settings), (e) => {
      assert.equal(e.payload?.tag, 'transport', e.message);
      assert.match(e.payload.val, /denied/);
      return true;
    });
    assert.equal(fenced.forwarded, 0, 'nothing reached the shim');
    assert.ok(fenced.denied.length > 0);
    assert.ok(fenced.denied.every((d) => d.authority === authority && /not in the allow-list/.test(d.reason)));
  } finally {
    await fenced.close();
  }
});

test('the log has lines, and no secret in them', () => {
  assert.ok(connector.log.length > 0);
  assert.ok(planSecrets.length > 0, 'plan-network ran first');
  for (const { message } of connector.log) {
    for (const secret of [privateKey, ...planSecrets]) {
      assert.ok(!message.includes(secret), `a log line holds a secret: ${message.replace(secret, '[redacted]')}`);
    }
  }
});
