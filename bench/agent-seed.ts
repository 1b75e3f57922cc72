// Seeds `--devices` registered devices into a fresh SQLite database in
// `--data-dir` with one bulk insert (not through HTTP), the way an existing fleet
// would be loaded, in a process of its own so the server's RSS is only its own.
import { hashToken } from "../server/agent/tokens.js";
import { openSqliteStore } from "../server/store/sqlite/store.js";
import { fleetDeviceId, fleetToken } from "./agent-fleet.js";
import { numberFlag, stringFlag } from "./lib/flags.js";

const devices = numberFlag("devices", 1_000_000);
const dataDir = stringFlag("data-dir");
if (!dataDir) throw new Error("--data-dir is required");

const store = openSqliteStore({ dataDir });
const now = Date.now();
const insert = store.sqlite.prepare(
  `INSERT INTO agent_devices (device_id, devicename, ip, macaddress, os, token_hash, token_expires_at, previous_token_hash, previous_token_expires_at, registered_at, updated_at, last_seen)
   VALUES (?, ?, '10.0.0.1', '00:0c:29:59:ab:c6', ?, ?, ?, NULL, NULL, ?, ?, NULL)`,
);
const chunk = store.sqlite.transaction((from: number, to: number) => {
  for (let i = from; i < to; i++) {
    insert.run(fleetDeviceId(i), `EndPoint${i}`, i % 3 ? "Linux" : "Windows", hashToken(fleetToken(i)), now + 365 * 86_400_000, now, now);
  }
});
for (let from = 0; from < devices; from += 100_000) chunk(from, Math.min(devices, from + 100_000));
await store.close();
