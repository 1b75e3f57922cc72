// Child process for the kill -9 test: tracks events as fast as it can into a
// FileStorage-backed tracker whose collector is unreachable, and prints the nr of
// each event whose trackEvent() has resolved. The parent kills it mid-stream.
import { ClientTracker, FileStorage } from "./node.js";

const file = process.argv[2]!;
const tracker = await ClientTracker.open({
  collectorUrl: "http://127.0.0.1:9/",
  sharedSecret: "s",
  deviceId: "crash-device",
  clientId: "crash-client",
  systemVersion: "1",
  productVersion: "1",
  queueSize: 1_000_000,
  storage: new FileStorage(file, { compactAfter: 200 }),
  onError: () => undefined,
});
let n = 0;
for (;;) {
  const batch = Array.from({ length: 8 }, () => tracker.trackEvent("crash.test", { params: `{"i":${n++},"pad":"${"x".repeat(200)}"}` }));
  await Promise.all(batch);
  process.stdout.write(`${tracker.loadNumberPerSession()[tracker.info.session]}\n`);
}
