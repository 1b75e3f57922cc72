// The platform-neutral part of the tracker. Import "./node.js" on Node (adds the
// durable FileStorage) or "./browser.js" in a browser bundle (adds WebStorage).
export { ClientTracker, CollectorError, type ClientTrackerOptions, type FlushResult, type RetryOptions, type TrackEventOptions } from "./tracker.js";
export { MemoryStorage, type EventKey, type SessionInfo, type StoredEvent, type TrackerSnapshot, type TrackerStorage } from "./storage.js";
export { generateSession, sessionOf, signature } from "./signing.js";
