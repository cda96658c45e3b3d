/**
 * npm start's log: quiet by default (a summary per function every few
 * seconds, warnings and errors in full), verbose on LOG=verbose; on a
 * terminal the summary is a footer redrawn in place, so the ready line and
 * the token block stay in view until something goes wrong.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { createStackLogger, summaryLine } from '../../local/stack/stackLog.js';
import { createTerminal, fitToWidth } from '../../local/stack/terminal.js';
import { runScript } from '../helpers/childProcess.js';
import { waitFor } from '../helpers/waitFor.js';

/** A terminal screen that understands what terminal.ts writes: text, \n, \r, cursor up (ESC[nA), clear to end (ESC[J), colours. */
const screen = (columns = 100) => {
  const rows: string[] = [''];
  let row = 0;
  let col = 0;
  const out = {
    isTTY: true,
    columns,
    write(data: string) {
      for (let i = 0; i < data.length; i++) {
        const ch = data[i] as string;
        if (ch === '\u001b') {
          const match = /^\u001b\[(\d*)([AJm])/.exec(data.slice(i)) as RegExpExecArray;
          expect(match, `unknown escape in ${JSON.stringify(data.slice(i, i + 8))}`).to.not.equal(null);
          if (match[2] === 'A') row = Math.max(0, row - Number(match[1] || 1));
          if (match[2] === 'J') {
            rows[row] = (rows[row] ?? '').slice(0, col);
            rows.length = row + 1;
          }
          i += match[0].length - 1;
        } else if (ch === '\n') {
          row++;
          col = 0;
          rows[row] ??= '';
        } else if (ch === '\r') col = 0;
        else {
          const line = (rows[row] ?? '').padEnd(col);
          rows[row] = line.slice(0, col) + ch + line.slice(col + 1);
          col++;
        }
      }
    },
  };
  // The visible text, without the empty row the cursor sits on.
  const visible = () => rows.slice(0, rows.at(-1) === '' ? -1 : undefined);
  return { out, visible };
};

describe('local stack log: quiet by default, verbose on demand', () => {
  describe('summary lines', () => {
    it('sums up a function: invocations, p50, p99 and errors', () => {
      expect(summaryLine('TelemetryFunction', [12, 10, 30, 11, 50], 1)).to.equal('TelemetryFunction 5 invocations, p50 12 ms, p99 50 ms, 1 error');
      expect(summaryLine('PingFunction', [2.25], 0)).to.equal('PingFunction 1 invocation, p50 2.3 ms, p99 2.3 ms, 0 errors');
    });

    it('in quiet mode counts invocations and drops per-invocation lines, but prints warnings and errors in full', () => {
      const lines: string[] = [];
      const logger = createStackLogger({ write: (line) => lines.push(line), mode: 'quiet', timestamps: false, summaryEveryMs: 60_000 });
      logger.perInvocation('rule', 'TelemetryRule devices/a/telemetry → TelemetryFunction ok (3 ms)');
      logger.handlerLine('TelemetryFunction', JSON.stringify({ level: 'INFO', message: 'fan-out done' }), 'stdout');
      logger.handlerLine('TelemetryFunction', JSON.stringify({ level: 'WARN', message: 'a delivery was retried' }), 'stdout');
      logger.log('lambda', 'error', 'TelemetryFunction failed: boom');
      for (const ms of [5, 7, 9]) logger.invocation('TelemetryFunction', ms, true);
      logger.invocation('PingFunction', 1, false);
      logger.flushSummary();
      logger.flushSummary(); // an idle window prints nothing
      logger.close();
      expect(lines).to.deep.equal([
        'lambda TelemetryFunction WARN a delivery was retried',
        'lambda TelemetryFunction failed: boom',
        'lambda PingFunction 1 invocation, p50 1.0 ms, p99 1.0 ms, 1 error',
        'lambda TelemetryFunction 3 invocations, p50 7.0 ms, p99 9.0 ms, 0 errors',
      ]);
    });

    it('in verbose mode prints every per-invocation line and no summary', () => {
      const lines: string[] = [];
      const logger = createStackLogger({ write: (line) => lines.push(line), timestamps: false });
      logger.perInvocation('rule', 'TelemetryRule devices/a/telemetry → TelemetryFunction ok (3 ms)');
      logger.handlerLine('TelemetryFunction', JSON.stringify({ level: 'INFO', message: 'fan-out done' }), 'stdout');
      logger.invocation('TelemetryFunction', 3, true);
      logger.flushSummary();
      expect(lines).to.deep.equal(['rule   TelemetryRule devices/a/telemetry → TelemetryFunction ok (3 ms)', 'lambda TelemetryFunction INFO fan-out done']);
    });
  });

  describe('on a terminal', () => {
    it('keeps the ready line and the token block right above a footer redrawn in place, until a warning is printed', () => {
      const { out, visible } = screen();
      const terminal = createTerminal(out);
      const logger = createStackLogger({ write: terminal.line, mode: 'quiet', timestamps: false, status: terminal.footer, summaryEveryMs: 5000 });
      terminal.line('development token (scope *, publish true, 24 h): eyJhbGciOi');
      terminal.line('ready dashboard=http://localhost:3000/ websocket=ws://localhost:3001');
      for (let window = 0; window < 20; window++) {
        for (let i = 0; i < 15; i++) logger.invocation('TelemetryFunction', 10 + i, true);
        if (window % 2) logger.invocation('PingFunction', 2, true);
        logger.flushSummary();
      }
      const screenNow = visible();
      expect(screenNow.slice(0, 2)).to.deep.equal(['development token (scope *, publish true, 24 h): eyJhbGciOi', 'ready dashboard=http://localhost:3000/ websocket=ws://localhost:3001']);
      expect(screenNow.slice(2)).to.deep.equal(['last 5 s PingFunction 1 invocation, p50 2.0 ms, p99 2.0 ms, 0 errors', 'last 5 s TelemetryFunction 15 invocations, p50 17 ms, p99 24 ms, 0 errors']);

      logger.log('lambda', 'warn', 'TelemetryFunction failed: Sandbox.Timedout');
      logger.invocation('TelemetryFunction', 3, true);
      logger.flushSummary();
      expect(visible()).to.deep.equal([
        'development token (scope *, publish true, 24 h): eyJhbGciOi',
        'ready dashboard=http://localhost:3000/ websocket=ws://localhost:3001',
        'lambda TelemetryFunction failed: Sandbox.Timedout',
        'last 5 s TelemetryFunction 1 invocation, p50 3.0 ms, p99 3.0 ms, 0 errors',
      ]);
      logger.close();
    });

    it('cuts footer lines to the terminal width so that they never wrap', () => {
      expect(fitToWidth('abcdefghij', 20)).to.equal('abcdefghij');
      expect(fitToWidth('abcdefghij', 6).replace(/\u001b\[0m$/, '')).to.equal('abcde…');
      expect(fitToWidth('\u001b[90mabcdefghij\u001b[0m', 6).replace(/\u001b\[[0-9;]*m/g, '')).to.equal('abcde…');
    });

    it('writes plain lines and no footer when the output is not a terminal', () => {
      const written: string[] = [];
      const terminal = createTerminal({ write: (text) => written.push(text), isTTY: false });
      terminal.line('ready x');
      terminal.footer(['a summary']);
      expect(written).to.deep.equal(['ready x\n']);
    });
  });

  describe('npm start (local/main.ts) with simulated devices', function () {
    this.timeout(60_000);
    const ENV = { PORT: '0', WS_PORT: '0', MQTT_PORT: '0', SIMULATED_DEVICES: '3', LOG_SUMMARY_MS: '1000' };

    const SUMMARY = /lambda +TelemetryFunction \d+ invocations?, p50 [\d.]+ ms, p99 [\d.]+ ms, 0 errors$/;
    const PER_INVOCATION = /TelemetryRule devices\/sim-\d\/telemetry → TelemetryFunction ok/;
    /** Runs npm start until `enough` of its lines after ready: a count of events, not a fixed time. */
    const run = async (env: Record<string, string>, enough: (lines: string[]) => boolean) => {
      const start = runScript('local/main.ts', [], { ...ENV, LOCAL_STACK_STATE_FILE: join(tmpdir(), `quiet-log-${process.pid}-${Date.now()}.json`), ...env });
      try {
        await start.line(/^ready /, 30_000);
        const readyAt = start.stdout.findIndex((line) => line.startsWith('ready '));
        await waitFor(() => start.stdout.slice(readyAt).some((line) => /TelemetryFunction .*ok|TelemetryFunction \d+ invocations?, p50/.test(line)), { timeoutMs: 15_000, message: 'telemetry in the log' });
        // Three devices at one reading a second, until the lines the spec reads have come.
        await waitFor(() => enough(start.stdout.slice(readyAt + 1)), { timeoutMs: 20_000, message: 'the log lines the spec reads' });
        return start.stdout.slice(readyAt + 1);
      } finally {
        await start.kill();
      }
    };

    it('prints no line per reading by default, but a summary per function every LOG_SUMMARY_MS', async () => {
      const after = await run({}, (lines) => lines.filter((line) => SUMMARY.test(line)).length >= 2);
      expect(after.filter((line) => /→ TelemetryFunction ok|TelemetryFunction INFO/.test(line)), after.join('\n')).to.deep.equal([]);
      const summaries = after.filter((line) => SUMMARY.test(line));
      expect(summaries.length, after.join('\n')).to.be.at.least(2);
      // About three readings a second, summed up once a second, instead of six lines a second.
      expect(after.length, after.join('\n')).to.be.below(12);
    });

    it('prints a line per invocation with LOG=verbose', async () => {
      const after = await run({ LOG: 'verbose' }, (lines) => lines.filter((line) => PER_INVOCATION.test(line)).length >= 6);
      expect(after.filter((line) => PER_INVOCATION.test(line)).length, after.join('\n')).to.be.at.least(6);
      expect(after.some((line) => /invocations?, p50/.test(line))).to.equal(false);
    });
  });
});
