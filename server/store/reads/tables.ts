// The tables as the shared reads see them: the SQLite schema's table objects.
// The reads take only names and value types from them (table and column names
// in the SQL text, number / boolean / text when decoding), which the Postgres
// schema repeats exactly (tables.test.ts checks every column), so the same
// objects serve both dialects.
export { agentCampaigns, agentCommands, agentDeviceLabels, agentDevices } from "../sqlite/schema/agent.js";
export { hbDaily, hbHeartbeats, hbInstallations, hbReleases, hbRollbacks, hbYanks, releaseAudit } from "../sqlite/schema/heartbeat.js";
export { operatorKeys } from "../sqlite/schema/operator.js";
export { trackEvents, trackSessions } from "../sqlite/schema/track.js";
