// `fleetbeat keys …`: operator API keys. `keys create` works on the database
// directly (the first key, before any key exists); list, revoke and issue go
// through the operator API with an admin key, whoami with any key.
import { Option, type Command } from "commander";
import { type ApiKey, ApiKeySchema, CreateKeyResponseSchema, KeyScope } from "../gen/fleetbeat/operator/v1/keys_pb.js";
import { type Column, formatTime, renderFields, renderTable } from "../clients/operator/format.js";
import { maxKeyNameLength } from "../server/operator/keys.js";
import type { OperatorKeyScope } from "../server/store/store.js";
import { destructive, requireYes, type OperatorKit, jsonOf } from "./operator.js";
import { keyName } from "./options.js";
import type { CliKit } from "./program.js";
import { addSettings, configFrom, describeStorage, openConfiguredStore, storeSettings } from "./settings.js";

function scopeName(scope: KeyScope): string {
  return scope === KeyScope.ADMIN ? "admin" : scope === KeyScope.READ ? "read" : "unknown";
}

const keyColumns: Column<ApiKey>[] = [
  { header: "ID", value: (k) => k.id },
  { header: "NAME", value: (k) => k.name },
  { header: "SCOPE", value: (k) => scopeName(k.scope) },
  { header: "CREATED", value: (k) => formatTime(k.createdAt) },
  { header: "LAST USED", value: (k) => formatTime(k.lastUsedAt) },
  { header: "REVOKED", value: (k) => formatTime(k.revokedAt) },
];

// ---- keys create (against the database)

interface KeysCreateOptions {
  name: string;
  scope: OperatorKeyScope;
  json?: boolean;
}

async function keysCreate(command: Command): Promise<void> {
  const options = command.opts<KeysCreateOptions>();
  const config = configFrom(command, storeSettings);
  const { createOperatorKey } = await import("../server/operator/keys.js");
  const store = await openConfiguredStore(config);
  let created: Awaited<ReturnType<typeof createOperatorKey>>;
  try {
    created = await createOperatorKey(store, { name: options.name, scope: options.scope });
  } finally {
    await store.close();
  }
  const { row, secret } = created;
  if (options.json) {
    const output = { id: row.id, name: row.name, scope: row.scope, createdAt: new Date(row.createdAt).toISOString(), secret };
    process.stdout.write(`${JSON.stringify(output)}\n`);
    return;
  }
  // The secret alone on stdout, so `KEY=$(fleetbeat keys create …)` works; the rest on stderr.
  process.stderr.write(
    `Created operator key ${JSON.stringify(row.name)} (id ${row.id}, scope ${row.scope}) in ${describeStorage(config)}.\n` +
      "This is the only time the key is shown: only its hash is stored. Use it as 'Authorization: Bearer <key>'.\n",
  );
  process.stdout.write(`${secret}\n`);
}

export function registerKeysCommands(kit: CliKit, op: OperatorKit): void {
  const { leaf, act } = op;
  const keys = kit.group("keys", "operator API keys");
  const create = keys
    .command("create")
    .description("create an operator API key directly in the database and print it once (only its hash is stored)")
    .requiredOption("--name <name>", `a name to recognise the key by (at most ${maxKeyNameLength} characters)`, keyName)
    .addOption(new Option("--scope <scope>", "what the key may do: read (every read method) or admin (everything)").choices(["read", "admin"]).makeOptionMandatory())
    .option("--json", "print {id, name, scope, createdAt, secret} as one JSON line");
  addSettings(create, storeSettings).action(async (_options: unknown, command: Command) => keysCreate(command));

  leaf(keys, "list", "list operator keys with their last use (needs an admin key)")
    .option("--all", "include revoked keys")
    .action(
      act(async (ctx, o) => {
        const response = await ctx.client.keys.listKeys({ includeRevoked: o.all === true }, ctx.client.call());
        if (ctx.json) ctx.out(`${JSON.stringify(response.keys.map((k) => jsonOf(ApiKeySchema, k)), null, 2)}\n`);
        else ctx.out(renderTable(response.keys, keyColumns));
      }),
    );
  destructive(leaf(keys, "revoke <id>", "revoke an operator key at once (needs an admin key)"), "revoke the key")
    .action(
      act(async (ctx, o, id: string) => {
        requireYes(o, `revoke key ${id}`);
        const response = await ctx.client.keys.revokeKey({ id }, ctx.client.call());
        if (ctx.json) ctx.out(`${JSON.stringify(response.key ? jsonOf(ApiKeySchema, response.key) : null)}\n`);
        else ctx.out(`revoked key ${id} (${response.key?.name ?? ""}) at ${formatTime(response.key?.revokedAt)}\n`);
      }),
    );
  leaf(keys, "whoami", "show the key this command uses: id, name, scope, when it was made and last used (any key)")
    .action(
      act(async (ctx) => {
        const key = (await ctx.client.keys.getCurrentKey({}, ctx.client.call())).key;
        if (ctx.json) {
          ctx.out(`${JSON.stringify(key ? jsonOf(ApiKeySchema, key) : null, null, 2)}\n`);
          return;
        }
        ctx.out(
          renderFields([
            ["id", key?.id ?? "-"],
            ["name", key?.name ?? "-"],
            ["scope", scopeName(key?.scope ?? KeyScope.UNSPECIFIED)],
            ["created", formatTime(key?.createdAt)],
            ["last used", formatTime(key?.lastUsedAt)],
          ]),
        );
      }),
    );
  leaf(keys, "issue", "create an operator key through the API (needs an admin key) and print it once")
    .requiredOption("--name <name>", "a name to recognise the key by")
    .addOption(new Option("--scope <scope>", "read (every read method) or admin (everything)").choices(["read", "admin"]).makeOptionMandatory())
    .action(
      act(async (ctx, o) => {
        const response = await ctx.client.keys.createKey(
          { name: o.name as string, scope: o.scope === "admin" ? KeyScope.ADMIN : KeyScope.READ },
          ctx.client.call(),
        );
        if (ctx.json) {
          ctx.out(`${JSON.stringify(jsonOf(CreateKeyResponseSchema, response))}\n`);
          return;
        }
        ctx.err(
          `Created operator key ${JSON.stringify(response.key?.name ?? "")} (id ${response.key?.id ?? "?"}, scope ${scopeName(response.key?.scope ?? KeyScope.UNSPECIFIED)}).\n` +
            "This is the only time the key is shown: only its hash is stored.\n",
        );
        ctx.out(`${response.secret}\n`);
      }),
    );}
