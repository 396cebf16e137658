// The allow-list rules of host.mjs, without a component.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Policy, redact, refusal } from '../host.mjs';

function policy(endpoints, readOnly = false) {
  return Object.assign(new Policy(), { endpoints, readOnly });
}

test('only the planned scheme and authority pass', () => {
  const p = policy([{ scheme: 'https', authority: 'api-na.myconnectwise.net' }]);
  const get = (scheme, authority) => refusal(p, { method: 'GET', scheme, authority });
  assert.equal(get('https', 'api-na.myconnectwise.net'), undefined);
  assert.match(get('https', 'api-eu.myconnectwise.net'), /not in the allow-list/);
  assert.match(get('https', 'api-na.myconnectwise.net:8443'), /not in the allow-list/);
  assert.match(get('http', 'api-na.myconnectwise.net'), /not in the allow-list/);
  assert.match(get('https', ''), /no authority/);
});

test('plain http only on loopback', () => {
  const p = policy([
    { scheme: 'http', authority: '127.0.0.1:8080' },
    { scheme: 'http', authority: 'cw.example.com' },
  ]);
  assert.equal(refusal(p, { method: 'GET', scheme: 'http', authority: '127.0.0.1:8080' }), undefined);
  assert.match(refusal(p, { method: 'GET', scheme: 'http', authority: 'cw.example.com' }), /loopback/);
});

test('a dry run reads only', () => {
  const p = policy([{ scheme: 'https', authority: 'cw.example.com' }], true);
  assert.equal(refusal(p, { method: 'GET', scheme: 'https', authority: 'cw.example.com' }), undefined);
  assert.match(refusal(p, { method: 'POST', scheme: 'https', authority: 'cw.example.com' }), /dry run/);
  assert.match(refusal(p, { method: 'PATCH', scheme: 'https', authority: 'cw.example.com' }), /dry run/);
});

test('a dry run may still sign in', () => {
  const p = policy(
    [
      { scheme: 'https', authority: 'api.example.com', role: 'api' },
      { scheme: 'https', authority: 'login.example.com', role: 'auth' },
    ],
    true,
  );
  assert.equal(refusal(p, { method: 'POST', scheme: 'https', authority: 'login.example.com' }), undefined);
  assert.match(refusal(p, { method: 'POST', scheme: 'https', authority: 'api.example.com' }), /dry run/);
});

test('redact replaces every secret', () => {
  assert.equal(redact('key=abcd1234 again abcd1234', ['abcd1234']), 'key=[redacted] again [redacted]');
});
