CREATE TABLE `release_audit` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` integer NOT NULL,
	`product` text NOT NULL,
	`channel` text NOT NULL,
	`action` text NOT NULL,
	`actor_kind` text NOT NULL,
	`actor_id` text NOT NULL,
	`actor_name` text NOT NULL,
	`before_json` text,
	`after_json` text,
	`detail_json` text
);
--> statement-breakpoint
CREATE INDEX `release_audit_at_idx` ON `release_audit` (`at`,`id`);--> statement-breakpoint
CREATE INDEX `release_audit_product_at_idx` ON `release_audit` (`product`,`at`,`id`);