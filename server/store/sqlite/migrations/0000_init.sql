CREATE TABLE `agent_commands` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`device_id` text NOT NULL,
	`type` integer NOT NULL,
	`content` text NOT NULL,
	`state` text NOT NULL,
	`created_at` integer NOT NULL,
	`deadline` integer NOT NULL,
	`delivered_at` integer,
	`last_delivered_at` integer,
	`delivery_count` integer DEFAULT 0 NOT NULL,
	`finished_at` integer,
	`return_code` integer,
	`reason` text
);
--> statement-breakpoint
CREATE INDEX `agent_commands_device_id_state_idx` ON `agent_commands` (`device_id`,`state`);--> statement-breakpoint
CREATE INDEX `agent_commands_state_deadline_idx` ON `agent_commands` (`state`,`deadline`);--> statement-breakpoint
CREATE TABLE `agent_device_labels` (
	`device_id` text NOT NULL,
	`label` text NOT NULL,
	PRIMARY KEY(`device_id`, `label`)
);
--> statement-breakpoint
CREATE INDEX `agent_device_labels_label_idx` ON `agent_device_labels` (`label`);--> statement-breakpoint
CREATE TABLE `agent_devices` (
	`device_id` text PRIMARY KEY NOT NULL,
	`devicename` text NOT NULL,
	`ip` text NOT NULL,
	`macaddress` text NOT NULL,
	`os` text NOT NULL,
	`token_hash` text NOT NULL,
	`token_expires_at` integer NOT NULL,
	`previous_token_hash` text,
	`registered_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`last_seen` integer
);
--> statement-breakpoint
CREATE INDEX `agent_devices_last_seen_idx` ON `agent_devices` (`last_seen`);--> statement-breakpoint
CREATE INDEX `agent_devices_os_idx` ON `agent_devices` (`os`);--> statement-breakpoint
CREATE INDEX `agent_devices_token_hash_idx` ON `agent_devices` (`token_hash`);--> statement-breakpoint
CREATE TABLE `hb_daily` (
	`day` text NOT NULL,
	`machine_id` text NOT NULL,
	`hb_id` text NOT NULL,
	`product` text NOT NULL,
	`version` text NOT NULL,
	`os_type` text NOT NULL,
	`os_version` text NOT NULL,
	`heartbeats` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`day`, `machine_id`, `hb_id`)
);
--> statement-breakpoint
CREATE INDEX `hb_daily_machine_id_idx` ON `hb_daily` (`machine_id`);--> statement-breakpoint
CREATE INDEX `hb_daily_day_product_idx` ON `hb_daily` (`day`,`product`);--> statement-breakpoint
CREATE TABLE `hb_heartbeats` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`machine_id` text NOT NULL,
	`hb_id` text NOT NULL,
	`received_at` integer NOT NULL,
	`version` text NOT NULL,
	`os_type` text NOT NULL,
	`os_version` text NOT NULL,
	`country` text NOT NULL,
	`region` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `hb_heartbeats_machine_id_idx` ON `hb_heartbeats` (`machine_id`);--> statement-breakpoint
CREATE INDEX `hb_heartbeats_received_at_idx` ON `hb_heartbeats` (`received_at`);--> statement-breakpoint
CREATE TABLE `hb_installations` (
	`machine_id` text NOT NULL,
	`hb_id` text NOT NULL,
	`product` text NOT NULL,
	`channel` text NOT NULL,
	`version` text NOT NULL,
	`os_type` text NOT NULL,
	`os_version` text NOT NULL,
	`country` text NOT NULL,
	`region` text NOT NULL,
	`first_seen` integer NOT NULL,
	`last_seen` integer NOT NULL,
	`heartbeats` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`machine_id`, `hb_id`)
);
--> statement-breakpoint
CREATE INDEX `hb_installations_last_seen_idx` ON `hb_installations` (`last_seen`);--> statement-breakpoint
CREATE INDEX `hb_installations_product_last_seen_idx` ON `hb_installations` (`product`,`last_seen`);--> statement-breakpoint
CREATE TABLE `hb_releases` (
	`product` text NOT NULL,
	`channel` text NOT NULL,
	`version` text NOT NULL,
	`previous_version` text,
	`rollout_percent` integer DEFAULT 100 NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`product`, `channel`)
);
--> statement-breakpoint
CREATE TABLE `operator_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`scope` text NOT NULL,
	`key_hash` text NOT NULL,
	`created_at` integer NOT NULL,
	`last_used_at` integer,
	`revoked_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `operator_keys_key_hash_uq` ON `operator_keys` (`key_hash`);--> statement-breakpoint
CREATE TABLE `track_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`session` text NOT NULL,
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
CREATE UNIQUE INDEX `track_events_session_nr_uq` ON `track_events` (`session`,`nr`);--> statement-breakpoint
CREATE INDEX `track_events_event_at_idx` ON `track_events` (`event`,`at`);--> statement-breakpoint
CREATE INDEX `track_events_at_idx` ON `track_events` (`at`);--> statement-breakpoint
CREATE INDEX `track_events_received_at_idx` ON `track_events` (`received_at`);--> statement-breakpoint
CREATE TABLE `track_sessions` (
	`session` text PRIMARY KEY NOT NULL,
	`device_id` text NOT NULL,
	`client_id` text NOT NULL,
	`system_version` text NOT NULL,
	`product_version` text NOT NULL,
	`system` text,
	`product_git_hash` text,
	`first_seen` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `track_sessions_device_id_idx` ON `track_sessions` (`device_id`);--> statement-breakpoint
CREATE INDEX `track_sessions_client_id_idx` ON `track_sessions` (`client_id`);