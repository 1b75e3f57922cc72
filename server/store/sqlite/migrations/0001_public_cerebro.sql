DROP INDEX `agent_devices_last_seen_idx`;--> statement-breakpoint
DROP INDEX `agent_devices_token_hash_idx`;