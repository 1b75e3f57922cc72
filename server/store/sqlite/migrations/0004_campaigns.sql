CREATE TABLE `agent_campaigns` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`target` text NOT NULL,
	`label` text,
	`type` integer NOT NULL,
	`content` text NOT NULL,
	`state` text NOT NULL,
	`created_at` integer NOT NULL,
	`deadline` integer NOT NULL,
	`finished_at` integer,
	`devices_per_minute` integer DEFAULT 0 NOT NULL,
	`abort_failure_percent` integer DEFAULT 0 NOT NULL,
	`abort_min_results` integer DEFAULT 0 NOT NULL,
	`retry_count` integer DEFAULT 0 NOT NULL,
	`retry_backoff_ms` integer DEFAULT 0 NOT NULL,
	`cursor` text,
	`materialised` integer DEFAULT false NOT NULL,
	`targeted` integer DEFAULT 0 NOT NULL,
	`estimated` integer DEFAULT 0 NOT NULL,
	`succeeded` integer DEFAULT 0 NOT NULL,
	`failed` integer DEFAULT 0 NOT NULL,
	`retried` integer DEFAULT 0 NOT NULL,
	`reason` text,
	`sweeping` integer DEFAULT false NOT NULL
);
--> statement-breakpoint
CREATE INDEX `agent_campaigns_state_idx` ON `agent_campaigns` (`state`);--> statement-breakpoint
DROP INDEX `agent_device_labels_label_idx`;--> statement-breakpoint
CREATE INDEX `agent_device_labels_label_device_idx` ON `agent_device_labels` (`label`,`device_id`);--> statement-breakpoint
ALTER TABLE `agent_commands` ADD `campaign_id` integer;--> statement-breakpoint
ALTER TABLE `agent_commands` ADD `attempt` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `agent_commands` ADD `not_before` integer;--> statement-breakpoint
CREATE INDEX `agent_commands_campaign_state_idx` ON `agent_commands` (`campaign_id`,`state`);--> statement-breakpoint
CREATE INDEX `agent_commands_finished_at_idx` ON `agent_commands` (`finished_at`);