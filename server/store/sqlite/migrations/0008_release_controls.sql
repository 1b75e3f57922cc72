CREATE TABLE `hb_rollbacks` (
	`product` text NOT NULL,
	`from_version` text NOT NULL,
	`channel` text NOT NULL,
	`to_version` text NOT NULL,
	`created_at` integer NOT NULL,
	`actor_kind` text NOT NULL,
	`actor_id` text NOT NULL,
	`actor_name` text NOT NULL,
	PRIMARY KEY(`product`, `from_version`, `channel`)
);
--> statement-breakpoint
CREATE TABLE `hb_yanks` (
	`product` text NOT NULL,
	`version` text NOT NULL,
	`yanked_at` integer NOT NULL,
	`actor_kind` text NOT NULL,
	`actor_id` text NOT NULL,
	`actor_name` text NOT NULL,
	PRIMARY KEY(`product`, `version`)
);
