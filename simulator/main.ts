/** `npm run device -- --devices 5 --rate 2`: simulated devices, on the local broker or on AWS IoT Core. */
import { USAGE, UsageError, parseDeviceArgs } from './args.js';
import { startSimulator } from './simulator.js';

const main = async () => {
  let command;
  try {
    command = parseDeviceArgs(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`error: ${error.message}\n\n${USAGE}`);
      process.exit(2);
    }
    throw error;
  }
  if (command.help) {
    console.log(USAGE);
    return;
  }
  const { options, quiet } = command;
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const simulator = await startSimulator({ ...defined, log: (line) => console.error(`device ${line}`) });
  const rate = options.rate ?? 1;
  console.log(`${simulator.devices.length} device(s) connected to ${options.url}: ${simulator.devices.join(', ')}; publishing ${rate}/s each to devices/{id}/telemetry (Ctrl-C stops)`);

  let last = 0;
  let lastAt = Date.now();
  const progress = setInterval(() => {
    const now = Date.now();
    const sent = simulator.published;
    if (!quiet) console.log(`published ${sent} messages (${(((sent - last) * 1000) / (now - lastAt)).toFixed(1)}/s)`);
    last = sent;
    lastAt = now;
  }, 5000);

  const stop = async (code: number) => {
    clearInterval(progress);
    await simulator.stop();
    console.log(`stopped after ${simulator.published} messages`);
    process.exit(code);
  };
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));
  await simulator.done;
  if (options.count !== undefined) await stop(0);
};

main().catch((error: Error) => {
  console.error(`error: ${error.message}`);
  process.exit(1);
});
