// `fleetbeat devices …`: endpoint agents (operator API).
import { DeviceSchema, GetDeviceResponseSchema, OnlineFilter, type Device } from "../gen/fleetbeat/operator/v1/devices_pb.js";
import { ExitCode } from "../clients/operator/exit-codes.js";
import { type Column, formatAgo, formatCount, formatTime, renderFields, renderTable } from "../clients/operator/format.js";
import { commandColumns } from "./commands.js";
import { collect, listItems, positiveInt, usage } from "./options.js";
import type { CliKit } from "./program.js";
import { type OperatorKit, collectAll, jsonOf, writeJsonArray } from "./operator.js";

function deviceColumns(now: number): Column<Device>[] {
  return [
    { header: "DEVICE ID", value: (d) => d.deviceId },
    { header: "NAME", value: (d) => d.devicename },
    { header: "OS", value: (d) => d.os },
    { header: "IP", value: (d) => d.ip },
    { header: "LABELS", value: (d) => d.labels.join(",") },
    { header: "STATUS", value: (d) => (d.online ? "online" : "offline") },
    { header: "LAST SEEN", value: (d) => formatAgo(d.lastSeen, now) },
  ];
}
export function registerDevicesCommands(kit: CliKit, op: OperatorKit): void {
  const { leaf, act } = op;
  const devices = kit.group("devices", "endpoint agents: list, show, label, delete (operator API)");
  leaf(devices, "list", "list devices, with online/offline status and last seen")
    .option("--online", "only devices online now")
    .option("--offline", "only devices offline now")
    .option("--os <os>", "only this exact OS string")
    .option("--label <label>", "only devices carrying this label")
    .option("--query <prefix>", "device id or name starts with this")
    .option("--limit <n>", "at most this many (default: all, page by page)", positiveInt("a count"))
    .action(
      act(async (ctx, o) => {
        if (o.online && o.offline) usage("--online and --offline exclude each other");
        const filter = {
          online: o.online ? OnlineFilter.ONLINE : o.offline ? OnlineFilter.OFFLINE : OnlineFilter.UNSPECIFIED,
          os: (o.os as string | undefined) ?? "",
          label: (o.label as string | undefined) ?? "",
          query: (o.query as string | undefined) ?? "",
        };
        const items = ctx.client.listDevices(filter, o.limit as number | undefined);
        if (ctx.json) {
          await writeJsonArray(ctx, items, (d) => jsonOf(DeviceSchema, d));
          return;
        }
        const rows = await collectAll(items);
        ctx.out(renderTable(rows, deviceColumns(ctx.io.now())));
        ctx.err(`${formatCount(rows.length)} device(s), ${formatCount(rows.filter((d) => d.online).length)} online\n`);
      }),
    );

  leaf(devices, "show <deviceId>", "one device with its newest commands")
    .option("--commands <n>", "how many of its newest commands to show", positiveInt("a count"))
    .action(
      act(async (ctx, o, deviceId: string) => {
        const response = await ctx.client.devices.getDevice({ deviceId, commandLimit: (o.commands as number | undefined) ?? 0 }, ctx.client.call());
        if (ctx.json) {
          ctx.out(`${JSON.stringify(jsonOf(GetDeviceResponseSchema, response), null, 2)}\n`);
          return;
        }
        const d = response.device;
        if (d) {
          const now = ctx.io.now();
          ctx.out(
            renderFields([
              ["device id", d.deviceId],
              ["name", d.devicename],
              ["status", `${d.online ? "online" : "offline"} (last seen ${formatTime(d.lastSeen)}, ${formatAgo(d.lastSeen, now)})`],
              ["os", d.os],
              ["ip", d.ip],
              ["mac address", d.macaddress],
              ["labels", d.labels.join(", ") || "-"],
              ["registered", formatTime(d.registeredAt)],
              ["updated", formatTime(d.updatedAt)],
              ["token expires", formatTime(d.tokenExpiresAt)],
            ]),
          );
        }
        ctx.out(response.commands.length === 0 ? "\nno commands\n" : `\ncommands (newest first):\n${renderTable(response.commands, commandColumns)}`);
      }),
    );

  leaf(devices, "label <deviceId>", "add or remove labels of a device")
    .option("--add <labels>", "labels to add, comma-separated (repeatable)", collect(listItems))
    .option("--remove <labels>", "labels to remove, comma-separated (repeatable)", collect(listItems))
    .action(
      act(async (ctx, o, deviceId: string) => {
        const add = ((o.add as string[][] | undefined) ?? []).flat();
        const remove = ((o.remove as string[][] | undefined) ?? []).flat();
        if (add.length === 0 && remove.length === 0) usage("give --add and/or --remove");
        const response = await ctx.client.devices.setDeviceLabels({ deviceId, add, remove }, ctx.client.call());
        if (ctx.json) {
          ctx.out(`${JSON.stringify(response.device ? jsonOf(DeviceSchema, response.device) : null)}\n`);
          return;
        }
        ctx.out(`${deviceId}: ${response.device?.labels.join(", ") || "(no labels)"}\n`);
      }),
    );

  leaf(devices, "delete <deviceId>", "forget a device: its tokens stop working and it must register again")
    .action(
      act(async (ctx, _o, deviceId: string) => {
        const response = await ctx.client.devices.deleteDevice({ deviceId }, ctx.client.call());
        if (ctx.json) ctx.out(`${JSON.stringify({ deviceId, deleted: response.deleted })}\n`);
        else if (response.deleted) ctx.out(`deleted device ${deviceId}\n`);
        if (!response.deleted) {
          ctx.err(`fleetbeat: error: not found: no device ${deviceId}\n`);
          return ExitCode.notFound;
        }
      }),
    );
}
