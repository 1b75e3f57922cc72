// `fleetbeat migrate`: apply the database migrations and exit.
import type { Command } from "commander";
import { addSettings, configFrom, describeStorage, openConfiguredStore, storeSettings } from "./settings.js";

async function migrate(command: Command): Promise<void> {
  const config = configFrom(command, storeSettings);
  const store = await openConfiguredStore(config);
  await store.close();
  process.stdout.write(`migrations applied: ${describeStorage(config)} is up to date\n`);
}

export function registerMigrateCommand(program: Command): void {
  const migrateCommand = program
    .command("migrate")
    .description("apply the database migrations and exit (serve also applies them at start)");
  addSettings(migrateCommand, storeSettings).action(async (_options: unknown, command: Command) => migrate(command));
}
