DROP INDEX `track_events_event_at_idx`;--> statement-breakpoint
DROP INDEX `track_events_received_at_idx`;