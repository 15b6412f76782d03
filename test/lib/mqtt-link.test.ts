import assert from 'node:assert/strict';
import { AbortContext } from '../../lib';
import { BROKER_LOSS_SOURCE, BrokerLink, CellLink, LinkStateChange, readCommand, readRemoteStop, startEmbeddedBroker } from '../../lib/mqtt';
import { until } from '../support/event-order';
import { subscriptionsAcknowledged } from '../support/broker-link';

describe('MQTT remote emergency-stop and command payloads', () => {
  it('reads "tripped" and "clear" as text (spaces ignored) or as JSON with an optional "by"', () => {
    assert.deepEqual(readRemoteStop('t', Buffer.from(' tripped\n')), { state: 'tripped' });
    assert.deepEqual(readRemoteStop('t', 'clear'), { state: 'clear' });
    assert.deepEqual(readRemoteStop('t', '{"state":"tripped","by":"MES"}'), { state: 'tripped', by: 'MES' });
    assert.deepEqual(readRemoteStop('t', '{"state":"clear"}'), { state: 'clear' });
  });

  it('anything else is an error showing the payload, never a clear', () => {
    for (const bad of ['', 'Clear', 'cleared', '{"state":"cleared"}', '{"state":"clear","by":7}', '["clear"]', '"clear"', '{bad json']) {
      assert.throws(() => readRemoteStop('line/estop', bad), (err: Error) => /remote emergency stop on topic "line\/estop": unreadable payload ".*" \(string\)/.test(err.message), bad);
    }
  });

  it('a command is a JSON object with a known command; the error shows what came', () => {
    assert.equal(readCommand('c', '{"command":"hold","id":1}').command, 'hold');
    assert.throws(() => readCommand('c', 'hold'), /MQTT command on "c": the payload must be a JSON object such as \{"command":"hold"\}, got "hold" \(string\)/);
    assert.throws(() => readCommand('c', '{"command":"fly"}'), /unknown command "fly" \(string\)/);
    assert.throws(() => readCommand('c', '{"command":"hold","by":3}'), /"by" must be text, got 3 \(number\)/);
  });
});

describe('BrokerLink: one shared connection', () => {
  it('opens on the turn after the first user registers, stays open while any user is left, closes after the last; teardown finishes before deregister resolves', async () => {
    const broker = await startEmbeddedBroker();
    try {
      const link = new BrokerLink({ url: broker.url, protocolVersion: 4 });
      const states: string[] = [];
      link.on('state', (c: LinkStateChange) => states.push(c.state));
      const a = { id: 'a' };
      const b = { id: 'b' };
      link.register(a);
      link.register(b);
      assert.equal(link.state, 'idle', 'not opened in the same turn');
      while (!link.connected) await new Promise((r) => setTimeout(r, 5));
      await link.deregister(a);
      assert.equal(link.state, 'connected');
      await link.deregister(b);
      assert.equal(link.state, 'idle');
      assert.deepEqual(states, ['connecting', 'connected', 'closing', 'idle']);
      await link.idle();
    } finally {
      await broker.close();
    }
  });

  it('a lost connection is retried with growing delays and subscriptions are renewed', async () => {
    const broker = await startEmbeddedBroker();
    try {
      const link = new BrokerLink({ url: broker.url, protocolVersion: 4, backoff: { minMs: 20, maxMs: 40, jitter: 0 } });
      const user = { id: 'u' };
      const got: string[] = [];
      link.register(user);
      link.subscribe(user, 'x', (m) => got.push(m.payload.toString()));
      const changes: LinkStateChange[] = [];
      link.on('state', (c: LinkStateChange) => changes.push(c));
      while (!link.connected) await new Promise((r) => setTimeout(r, 5));
      broker.dropClients();
      while (!changes.some((c) => c.state === 'disconnected')) await new Promise((r) => setTimeout(r, 5));
      assert.match(changes.find((c) => c.state === 'disconnected')!.detail, /retrying in 20 ms/);
      await subscriptionsAcknowledged(link); // renewed on the new connection
      await link.publish('x', 'after');
      while (got.length === 0) await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(got, ['after']);
      await link.deregister(user);
      await assert.rejects(link.publish('x', 'late'), /broker mqtt:\/\/127\.0\.0\.1:\d+: cannot publish to "x": not connected \(idle\)/);
    } finally {
      await broker.close();
    }
  });
});

describe('a subscription the broker refuses (its ACL)', () => {
  it('BrokerLink tells which topics the SUBACK refused and which it granted', async () => {
    const broker = await startEmbeddedBroker({ denySubscribe: (t) => t === 'cell/estop' });
    const link = new BrokerLink({ url: broker.url, protocolVersion: 4 });
    const user = { id: 'u' };
    try {
      const refused: { topics: string[]; reason: string }[] = [];
      const granted: string[][] = [];
      link.on('subscribe-refused', (r: { topics: string[]; reason: string }) => refused.push(r));
      link.on('subscribed', (t: string[]) => granted.push(t));
      link.register(user);
      link.subscribe(user, 'cell/estop', () => undefined);
      link.subscribe(user, 'cell/command', () => undefined);
      await until(() => refused.length > 0 && granted.length > 0, 'the SUBACK');
      assert.deepEqual(refused.map((r) => r.topics), [['cell/estop']]);
      assert.match(refused[0].reason, /Subscribe error/);
      assert.deepEqual(granted, [['cell/command']]);
    } finally {
      await link.deregister(user);
      await broker.close();
    }
  });

  for (const brokerLoss of ['trip', 'warn'] as const) {
    it(`a refused remote emergency-stop topic ${brokerLoss === 'trip' ? 'trips the cell (brokerLoss "trip"), as a lost connection does' : 'is a logged error naming the topic (brokerLoss "warn"); the cell stays ready'}`, async () => {
      const broker = await startEmbeddedBroker({ denySubscribe: (t) => t === 'cell/estop' });
      const link = new BrokerLink({ url: broker.url, protocolVersion: 4, name: 'Broker' });
      const cell = new AbortContext({ name: 'acl' });
      const errors: string[] = [];
      const cellLink = new CellLink({ cell, link, estop: 'cell/estop', brokerLoss, log: { info: () => undefined, warn: () => undefined, error: (t) => errors.push(t) } });
      try {
        if (brokerLoss === 'trip') {
          await until(() => cell.state === 'aborted', 'the trip');
          assert.match(cell.activeTrips[BROKER_LOSS_SOURCE], /^Broker: the broker refused the subscription to the remote emergency-stop topic "cell\/estop" \(Subscribe error: .*\): remote emergency stops cannot be heard$/);
        } else {
          await until(() => errors.length > 0, 'the error');
          assert.match(errors[0], /^cell "acl": Broker: the broker refused the subscription to the remote emergency-stop topic "cell\/estop" \(Subscribe error: .*\): remote emergency stops cannot be heard$/);
          assert.equal(cell.state, 'ready');
        }
      } finally {
        await cellLink.close();
        await broker.close();
      }
    });
  }
});
