// `fleetbeat events …`: tracked app events: list, export, follow (operator API).
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { type Command as CliCommand, Option } from "commander";
import { type Event, EventSchema, ExportFormat } from "../gen/fleetbeat/operator/v1/events_pb.js";
import type { EventFilterInit } from "../clients/operator/client.js";
import { type ExportSink, openFileSink, streamSink } from "../clients/operator/file-sink.js";
import { type Column, formatBytes, formatCount, parseTime, renderTable } from "../clients/operator/format.js";
import { ProgressBar } from "../clients/operator/progress.js";
import { positiveInt, usage } from "./options.js";
import type { CliKit } from "./program.js";
import { type OperatorKit, collectAll, jsonOf, shorten, writeJsonArray } from "./operator.js";

const eventColumns: Column<Event>[] = [
  { header: "AT", value: (e) => new Date(Number(e.at) * 1000).toISOString().replace(/\.000Z$/, "Z") },
  { header: "EVENT", value: (e) => e.event },
  { header: "DEVICE", value: (e) => shorten(e.deviceId, 12) },
  { header: "CLIENT", value: (e) => e.clientId },
  { header: "SESSION", value: (e) => shorten(e.session, 12) },
  { header: "NR", value: (e) => String(e.nr), right: true },
  { header: "USER", value: (e) => (e.userId === undefined ? "" : String(e.userId)), right: true },
  { header: "IP", value: (e) => e.ip },
  { header: "PARAMETERS", value: (e) => shorten(e.parameters, 40) },
];

function followLine(e: Event): string {
  const at = new Date(Number(e.at) * 1000).toISOString().replace(/\.000Z$/, "Z");
  const user = e.userId === undefined ? "" : ` user=${e.userId}`;
  const params = e.parameters === "" ? "" : ` ${e.parameters}`;
  return `${at} ${e.event} device=${shorten(e.deviceId, 12)} session=${shorten(e.session, 12)} nr=${e.nr}${user}${params}`.replace(/[\r\n]/g, " ") + "\n";
}
export function registerEventsCommands(kit: CliKit, op: OperatorKit): void {
  const { leaf, act } = op;
  const events = kit.group("events", "tracked app events: list, export, follow (operator API)");
  const withEventFilter = (command: CliCommand): CliCommand =>
    command
      .option("--device <id>", "only this device id (sha256 hex, as the tracker sends it)")
      .option("--session <session>", "only this session")
      .option("--event <name>", "only this event name")
      .option("--client <clientId>", "only this client id")
      .option("--from <time>", "event time from (inclusive): ISO 8601, epoch seconds, or -2h for two hours ago")
      .option("--to <time>", "event time to (exclusive), same forms as --from");
  const eventFilter = (o: Record<string, unknown>, now: number): EventFilterInit => {
    const time = (flag: string): number | undefined => {
      const raw = o[flag] as string | undefined;
      if (raw === undefined) return undefined;
      const ms = parseTime(raw, now);
      if (ms === undefined) usage(`--${flag}: expected ISO 8601 (2026-01-31T12:00:00Z), epoch seconds or -<duration>, got ${JSON.stringify(raw)}`);
      return ms;
    };
    const from = time("from");
    const to = time("to");
    if (from !== undefined && to !== undefined && from >= to) usage("--from must be before --to");
    return {
      deviceId: (o.device as string | undefined) ?? "",
      session: (o.session as string | undefined) ?? "",
      event: (o.event as string | undefined) ?? "",
      clientId: (o.client as string | undefined) ?? "",
      ...(from !== undefined ? { from: timestampFromMs(from) } : {}),
      ...(to !== undefined ? { to: timestampFromMs(to) } : {}),
    };
  };

  withEventFilter(leaf(events, "list", "query stored events"))
    .option("--limit <n>", "at most this many (default 100; 0 for all, page by page)", positiveInt("a count", true), 100)
    .action(
      act(async (ctx, o) => {
        const limit = (o.limit as number) === 0 ? undefined : (o.limit as number);
        const items = ctx.client.listEvents(eventFilter(o, ctx.io.now()), limit);
        if (ctx.json) {
          await writeJsonArray(ctx, items, (e) => jsonOf(EventSchema, e));
          return;
        }
        const rows = await collectAll(items);
        ctx.out(renderTable(rows, eventColumns));
        ctx.err(`${formatCount(rows.length)} event(s)\n`);
      }),
    );

  withEventFilter(leaf(events, "export", "stream every matching event to a file (NDJSON or the collector's CSV)"))
    .addOption(new Option("--format <format>", "ndjson: one JSON object per line; csv: the original collector's layout").choices(["ndjson", "csv"]).default("ndjson"))
    .option("--out <file>", "write here (written as <file>.partial, renamed when complete); default stdout")
    .option("--no-progress", "no progress bar (it is only drawn when stderr is a terminal)")
    .action(
      act(async (ctx, o) => {
        const filter = eventFilter(o, ctx.io.now());
        const format = o.format === "csv" ? ExportFormat.CSV : ExportFormat.NDJSON;
        const out = o.out as string | undefined;
        const toStdout = out === undefined || out === "-";
        const showProgress = o.progress !== false && ctx.io.stderr.isTTY === true;
        let total: number | undefined;
        const unfiltered = Object.values(filter).every((value) => value === "" || value === undefined);
        if (showProgress && unfiltered) {
          // Everything is exported: the server's event count gives the bar its end
          // (a failure here only costs the percentage, never the export).
          total = await ctx.client.stats.getStats({}, ctx.client.call()).then((s) => Number(s.events), () => undefined);
        }
        const bar = new ProgressBar(ctx.io.stderr, { total, label: "exporting", now: ctx.io.now });
        const sink: ExportSink = toStdout ? streamSink(ctx.io.stdout) : await openFileSink(out);
        const started = ctx.io.now();
        let result;
        try {
          result = await ctx.client.exportEvents({ filter, format }, (chunk) => sink.write(chunk), (p) => showProgress && bar.update(p));
          await sink.commit();
        } catch (error) {
          bar.finish();
          await sink.abort();
          throw error;
        }
        if (showProgress) bar.update(result, true);
        bar.finish();
        const seconds = (ctx.io.now() - started) / 1000;
        const summary = { events: result.events, bytes: result.bytes, file: toStdout ? null : out, format: o.format, seconds };
        if (ctx.json && !toStdout) ctx.out(`${JSON.stringify(summary)}\n`);
        else {
          ctx.err(
            `exported ${formatCount(result.events)} event(s), ${formatBytes(result.bytes)}${toStdout ? "" : ` to ${out}`} in ${seconds.toFixed(1)} s\n`,
          );
        }
      }),
    );

  withEventFilter(leaf(events, "follow", "print new events as the server commits them, until interrupted (Ctrl-C)"))
    .option("--count <n>", "stop after this many events", positiveInt("a count"))
    .action(
      act(async (ctx, o) => {
        const abort = new AbortController();
        const onInterrupt = (): void => abort.abort();
        ctx.io.interrupt?.addEventListener("abort", onInterrupt, { once: true });
        const ownSignal = ctx.io.interrupt === undefined && ctx.io.stdout === process.stdout;
        if (ownSignal) process.once("SIGINT", onInterrupt);
        const limit = o.count as number | undefined;
        let seen = 0;
        try {
          if (!ctx.json) ctx.err("following new events (Ctrl-C to stop)…\n");
          for await (const event of ctx.client.followEvents(eventFilter(o, ctx.io.now()), abort.signal)) {
            if (ctx.json) ctx.out(`${JSON.stringify(jsonOf(EventSchema, event))}\n`);
            else ctx.out(followLine(event));
            seen++;
            if (limit !== undefined && seen >= limit) {
              abort.abort();
              break;
            }
          }
        } catch (error) {
          if (!abort.signal.aborted) throw error;
        } finally {
          ctx.io.interrupt?.removeEventListener("abort", onInterrupt);
          if (ownSignal) process.removeListener("SIGINT", onInterrupt);
        }
      }),
    );
}
