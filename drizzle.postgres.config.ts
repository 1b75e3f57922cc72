// drizzle-kit config for the Postgres schema: `npm run db:generate` writes the
// migrations that openStore applies at start-up.
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "postgresql",
  schema: "./server/store/postgres/schema/index.ts",
  out: "./server/store/postgres/migrations",
});
