/** The device simulator: realistic readings, its command line, and publishing to a broker. */
import { expect } from 'chai';
import { Aedes } from 'aedes';
import { createServer, type Server } from 'node:net';
import { UsageError, parseDeviceArgs } from '../../simulator/args.js';
import { startSimulator } from '../../simulator/simulator.js';
import { createDeviceModel } from '../../simulator/telemetry.js';
import { runScript } from '../helpers/childProcess.js';

describe('device simulator', function () {
  this.timeout(15_000);

  describe('telemetry model', () => {
    it('produces smooth, plausible readings with increasing seq numbers', () => {
      const model = createDeviceModel(42);
      const readings = Array.from({ length: 600 }, (_, i) => model.next(1_700_000_000_000 + i * 1000));
      expect(readings.map((r) => r.seq)).to.deep.equal(readings.map((_, i) => i + 1));
      for (const r of readings) {
        expect(r.temperature).to.be.within(5, 40);
        expect(r.humidity).to.be.within(0, 100);
        expect(r.battery).to.be.within(0, 100);
        expect(r.rssi).to.be.within(-120, -30);
      }
      const steps = readings.slice(1).map((r, i) => Math.abs(r.temperature - readings[i]!.temperature));
      expect(Math.max(...steps)).to.be.below(1.5); // a walk, not noise
    });

    it('is repeatable for a seed', () => {
      const a = createDeviceModel(7);
      const b = createDeviceModel(7);
      expect(a.next(1000)).to.deep.equal(b.next(1000));
    });
  });

  describe('arguments', () => {
    it('reads devices, rate, count and url', () => {
      expect(parseDeviceArgs(['--devices', '5', '--rate', '2', '--count', '3']).options).to.include({ devices: 5, rate: 2, count: 3, url: 'mqtt://localhost:1883' });
    });
    it('reads --drop-every as a duration', () => {
      expect(parseDeviceArgs(['--drop-every', '60s']).options).to.include({ dropEveryMs: 60_000 });
      expect(parseDeviceArgs(['--drop-every', '5m']).options).to.include({ dropEveryMs: 300_000 });
    });
    it('explains what is wrong', () => {
      const bad: [string[], RegExp][] = [
        [['--devices', 'five'], /--devices must be a positive whole number/],
        [['--rate', '0'], /--rate must be a positive number/],
        [['--bogus'], /bogus/],
        [['--url', 'http://x'], /must start with mqtt:\/\//],
        [['--url', 'mqtts://a.iot.us-east-1.amazonaws.com:8883'], /needs --cert and --key/],
        [['--cert', '/nonexistent.pem'], /no such file/],
        [['--ids', 'a/b'], /invalid/],
        [['--ids', 'a', '--devices', '2'], /either --devices or --ids/],
        [['--qos', '2'], /QoS 2/],
        [['--drop-every', 'often'], /--drop-every must be a duration/],
        [['--drop-every', '1s'], /at least 2s/],
      ];
      for (const [args, pattern] of bad) expect(() => parseDeviceArgs(args), args.join(' ')).to.throw(UsageError, pattern);
    });
  });

  describe('publishing', () => {
    let broker: Aedes;
    let server: Server;
    let port: number;
    const received: { topic: string; clientId: string; payload: any }[] = [];

    before(async () => {
      broker = await Aedes.createBroker();
      broker.on('publish', (packet, client) => {
        if (client) received.push({ topic: packet.topic, clientId: client.id, payload: JSON.parse(packet.payload.toString()) });
      });
      server = createServer(broker.handle);
      port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
    });
    after(async () => {
      server.close();
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    });

    it('publishes JSON telemetry to devices/{id}/telemetry, one MQTT client per device', async () => {
      const simulator = await startSimulator({ url: `mqtt://127.0.0.1:${port}`, devices: 2, rate: 50, count: 3, prefix: 'unit-' });
      await simulator.done;
      await simulator.stop();
      expect(simulator.published).to.equal(6);
      expect(new Set(received.map((r) => r.clientId))).to.deep.equal(new Set(['unit-1', 'unit-2']));
      expect(received.map((r) => r.topic)).to.include('devices/unit-2/telemetry');
      expect(received[0]!.payload).to.have.keys('ts', 'seq', 'temperature', 'humidity', 'battery', 'rssi');
    });

    it('drops each device’s connection every --drop-every, and each comes back under its own client id', async () => {
      const connects: string[] = [];
      const drops: string[] = [];
      const onClient = (client: { id: string }) => connects.push(client.id);
      const onDisconnect = (client: { id: string }) => drops.push(client.id);
      broker.on('client', onClient);
      broker.on('clientDisconnect', onDisconnect);
      const simulator = await startSimulator({ url: `mqtt://127.0.0.1:${port}`, devices: 2, rate: 5, prefix: 'drop-', dropEveryMs: 400 });
      try {
        const deadline = Date.now() + 10_000;
        while ((['drop-1', 'drop-2'].some((id) => connects.filter((c) => c === id).length < 2)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      } finally {
        await simulator.stop();
        broker.off('client', onClient);
        broker.off('clientDisconnect', onDisconnect);
      }
      for (const id of ['drop-1', 'drop-2']) {
        expect(connects.filter((c) => c === id).length, `${id} reconnected`).to.be.at.least(2);
        expect(drops, `${id} dropped`).to.include(id);
      }
    });

    it('fails fast with a clear message when the broker is unreachable', async () => {
      const error = await startSimulator({ url: 'mqtt://127.0.0.1:9', devices: 1, connectTimeoutMs: 2000 }).catch((e: Error) => e);
      expect(error).to.be.instanceOf(Error);
      expect((error as Error).message).to.match(/^cannot connect to mqtt:\/\/127\.0\.0\.1:9: ECONNREFUSED/);
    });

    it('runs from the command line and exits 2 with the usage for bad arguments', async () => {
      const ok = runScript('simulator/main.ts', ['--url', `mqtt://127.0.0.1:${port}`, '--devices', '1', '--rate', '20', '--count', '2', '--prefix', 'cli-']);
      const bad = runScript('simulator/main.ts', ['--rate', 'fast']);
      const [okExit, badExit] = await Promise.all([ok.exited, bad.exited]);
      expect(okExit.code).to.equal(0);
      expect(ok.stdout.join('\n')).to.match(/stopped after 2 messages/);
      expect(badExit.code).to.equal(2);
      expect(bad.stderr[0]).to.equal('error: --rate must be a positive number, got "fast"');
    });
  });
});
