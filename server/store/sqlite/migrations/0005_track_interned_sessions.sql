-- Interned tracking sessions (issue 14): each session gets an integer id, and
-- events carry it instead of the 32-character session text, so the dedup index
-- (session_id, nr) holds two integers and a collection's keys sit side by side.
-- Both tables are rebuilt in place: sessions numbered in the order they were
-- first seen, every event keeping its id (the feed position and paging cursor),
-- and the id sequence keeping its high-water mark. An event whose session row
-- were missing would fail the NOT NULL and stop the migration rather than go.
CREATE TABLE `__new_track_sessions` (
	`id` integer PRIMARY KEY NOT NULL,
	`session` text NOT NULL,
	`device_id` text NOT NULL,
	`client_id` text NOT NULL,
	`system_version` text NOT NULL,
	`product_version` text NOT NULL,
	`system` text,
	`product_git_hash` text,
	`first_seen` integer NOT NULL
);
--> statement-breakpoint
INSERT INTO `__new_track_sessions` ("session", "device_id", "client_id", "system_version", "product_version", "system", "product_git_hash", "first_seen")
  SELECT "session", "device_id", "client_id", "system_version", "product_version", "system", "product_git_hash", "first_seen" FROM `track_sessions` ORDER BY "first_seen", "session";--> statement-breakpoint
DROP TABLE `track_sessions`;--> statement-breakpoint
ALTER TABLE `__new_track_sessions` RENAME TO `track_sessions`;--> statement-breakpoint
CREATE UNIQUE INDEX `track_sessions_session_uq` ON `track_sessions` (`session`);--> statement-breakpoint
CREATE INDEX `track_sessions_device_id_idx` ON `track_sessions` (`device_id`);--> statement-breakpoint
CREATE INDEX `track_sessions_client_id_idx` ON `track_sessions` (`client_id`);--> statement-breakpoint
CREATE TABLE `__new_track_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`session_id` integer NOT NULL,
	`nr` integer NOT NULL,
	`at` integer NOT NULL,
	`event` text NOT NULL,
	`user_id` integer,
	`ip` text,
	`parameters` text,
	`is_testing` integer NOT NULL,
	`received_at` integer NOT NULL
);
--> statement-breakpoint
INSERT INTO `__new_track_events` ("id", "session_id", "nr", "at", "event", "user_id", "ip", "parameters", "is_testing", "received_at")
  SELECT e."id", s."id", e."nr", e."at", e."event", e."user_id", e."ip", e."parameters", e."is_testing", e."received_at"
  FROM `track_events` e LEFT JOIN `track_sessions` s ON s."session" = e."session" ORDER BY e."id";--> statement-breakpoint
DELETE FROM `sqlite_sequence` WHERE "name" = '__new_track_events';--> statement-breakpoint
INSERT INTO `sqlite_sequence` ("name", "seq") SELECT '__new_track_events', "seq" FROM `sqlite_sequence` WHERE "name" = 'track_events';--> statement-breakpoint
DROP TABLE `track_events`;--> statement-breakpoint
ALTER TABLE `__new_track_events` RENAME TO `track_events`;--> statement-breakpoint
CREATE UNIQUE INDEX `track_events_session_nr_uq` ON `track_events` (`session_id`,`nr`);--> statement-breakpoint
CREATE INDEX `track_events_at_idx` ON `track_events` (`at`);
