// `fleetbeat machines …`: one machine's update-heartbeat data: export, erase (operator API).
import { EraseMachineResponseSchema, ExportMachineResponseSchema } from "../gen/fleetbeat/operator/v1/machines_pb.js";
import { openFileSink } from "../clients/operator/file-sink.js";
import { usage } from "./options.js";
import type { CliKit } from "./program.js";
import { type OperatorKit, jsonOf } from "./operator.js";

export function registerMachinesCommands(kit: CliKit, op: OperatorKit): void {
  const { leaf, act } = op;
  const machines = kit.group("machines", "one machine's update-heartbeat data: export, erase (operator API)");
  leaf(machines, "export <machineId>", "everything stored about one machine, as JSON")
    .option("--out <file>", "write here (written as <file>.partial, renamed when complete); default stdout")
    .action(
      act(async (ctx, o, machineId: string) => {
        const response = await ctx.client.machines.exportMachine({ machineId }, ctx.client.call());
        const text = `${JSON.stringify(jsonOf(ExportMachineResponseSchema, response), null, 2)}\n`;
        const out = o.out as string | undefined;
        if (out === undefined || out === "-") {
          ctx.out(text);
          return;
        }
        const sink = await openFileSink(out);
        try {
          await sink.write(Buffer.from(text, "utf8"));
          await sink.commit();
        } catch (error) {
          await sink.abort();
          throw error;
        }
        ctx.err(
          `exported machine ${machineId}: ${response.installations.length} installation(s), ${response.heartbeats.length} heartbeat(s), ${response.daily.length} daily record(s) to ${out}\n`,
        );
      }),
    );
  leaf(machines, "erase <machineId>", "erase everything stored about one machine")
    .option("--yes", "really erase (required)")
    .action(
      act(async (ctx, o, machineId: string) => {
        if (o.yes !== true) usage(`erasing cannot be undone: add --yes to erase machine ${machineId}`);
        const response = await ctx.client.machines.eraseMachine({ machineId }, ctx.client.call());
        if (ctx.json) {
          ctx.out(`${JSON.stringify(jsonOf(EraseMachineResponseSchema, response))}\n`);
          return;
        }
        ctx.out(
          `erased machine ${machineId}: ${response.installationsDeleted} installation(s), ${response.heartbeatsDeleted} heartbeat(s), ${response.dailyDeleted} daily record(s)\n`,
        );
      }),
    );
}
