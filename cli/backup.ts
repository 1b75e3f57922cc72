// `fleetbeat backup <file>`: an online copy of the SQLite database (safe while
// the server runs); on Postgres it refuses and shows the pg_dump to use instead.
// The copying itself is server/store/sqlite/backup.ts.
import { Command, CommanderError } from "commander";
import { usageError } from "./options.js";
import { addSettings, configFrom, describeStorage, storeSettings } from "./settings.js";

interface BackupOptions {
  overwrite?: boolean;
  json?: boolean;
}

/** What an operator on Postgres should run instead (also in deploy/README.md, "Backups"). */
export function postgresBackupAdvice(storage: string): string {
  return (
    `fleetbeat backup copies SQLite only; this configuration stores in ${storage}.\n` +
    "Back Postgres up with its own tools, while the server runs:\n" +
    '  pg_dump --format=custom --file="fleetbeat-$(date +%F).dump" "$DATABASE_URL"\n' +
    "and restore into an empty database with:\n" +
    '  pg_restore --no-owner --dbname="$DATABASE_URL" fleetbeat-YYYY-MM-DD.dump\n' +
    'See deploy/README.md, "Backups".'
  );
}

async function backup(file: string, command: Command): Promise<void> {
  const options = command.opts<BackupOptions>();
  const config = configFrom(command, storeSettings);
  if (config.databaseUrl !== undefined) {
    // Exit code 2 like a usage error, without the "(add --help for usage)" line:
    // the message already says what to do.
    process.stderr.write(`fleetbeat: error: ${postgresBackupAdvice(describeStorage(config))}\n`);
    throw new CommanderError(usageError.exitCode, "fleetbeat.backup.postgres", "backup refused on Postgres");
  }
  const { backupSqlite } = await import("../server/store/sqlite/backup.js");
  const result = await backupSqlite({ dataDir: config.dataDir, destination: file, overwrite: options.overwrite === true });
  if (options.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  process.stdout.write(
    `backed up ${describeStorage(config)} to ${result.file}: ${result.bytes} bytes, ${result.pages} pages, ` +
      `${result.migrations} migrations, in ${result.durationMs} ms\n`,
  );
}

export function registerBackupCommand(program: Command): void {
  const command = program
    .command("backup")
    .description("copy the SQLite database to <file> while the server runs (restore: the file becomes <data-dir>/fleetbeat.sqlite); Postgres: use pg_dump")
    .argument("<file>", "where to write the copy (its folder must exist)")
    .option("--overwrite", "replace <file> when it exists")
    .option("--json", "print {file, bytes, pages, migrations, durationMs} as one JSON line")
    .addHelpText(
      "after",
      "\nRun it as the server's user (sudo -u fleetbeat …) so the copy and the database's side files stay theirs.\n" +
        'Restore and Postgres backups: deploy/README.md, "Backups".',
    );
  addSettings(command, storeSettings).action(async (file: string, _options: unknown, self: Command) => backup(file, self));
}
