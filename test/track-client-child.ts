// A tracker process for test/track-client.e2e.test.ts. Usage:
//   track-client-child.ts <collectorUrl> <queueFile> track   — tracks events forever, queue_size 5,
//                                                            printing each nr whose trackEvent() returned
//   track-client-child.ts <collectorUrl> <queueFile> flush   — tracks one "after-restart" event, flushes,
//                                                            prints the FlushResult as JSON and exits
import { ClientTracker, FileStorage } from "../clients/tracker/node.js";

const [collectorUrl, file, mode] = process.argv.slice(2) as [string, string, string];
const tracker = await ClientTracker.open({
  collectorUrl,
  sharedSecret: "client-secret",
  deviceId: "child-device",
  clientId: "child-app",
  systemVersion: "1",
  productVersion: "1",
  queueSize: 5,
  storage: new FileStorage(file),
  retry: { initialDelayMs: 10, maxDelayMs: 50 },
  onError: () => undefined,
});
if (mode === "flush") {
  await tracker.trackEvent("after-restart");
  const result = await tracker.flush();
  process.stdout.write(`${JSON.stringify({ ...result, error: result.error ? String(result.error) : undefined, last: tracker.loadNumberPerSession()[tracker.info.session] })}\n`);
  await tracker.close();
} else {
  for (;;) {
    await tracker.trackEvent("child.event", { params: `{"pid":${process.pid}}` });
    process.stdout.write(`${tracker.loadNumberPerSession()[tracker.info.session]}\n`);
  }
}
