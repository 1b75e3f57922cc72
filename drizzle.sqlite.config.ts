// drizzle-kit config for the SQLite schema: `npm run db:generate` writes the
// migrations that openStore applies at start-up.
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./server/store/sqlite/schema/index.ts",
  out: "./server/store/sqlite/migrations",
});
