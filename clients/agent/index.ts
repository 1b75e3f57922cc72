// @fleetbeat/agent: the endpoint agent (DI) as a library: Agent (register,
// heartbeat with rotating tokens, run commands, report results), its state file
// and the legacy wire client. The `fleetbeat-agent` bin (bin.ts) runs it.
export * from "./agent.js";
export { LegacyAgentClient, type LegacyClientOptions, type ResultReport } from "./legacy.js";
export { newDeviceId, readState, writeState, type AgentState, type CommandOutcome } from "./state.js";
export { runAgent, systemInfo, shellHandler, AgentSettingsError, type AgentRunSettings } from "./run.js";
