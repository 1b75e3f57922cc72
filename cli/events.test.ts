// CSV from the server's NDJSON: RFC 4180 quoting, a header once, lines split across chunks.
import { expect, it } from "vitest";
import type { ExportSink } from "../clients/operator/file-sink.js";
import { csvFromNdjson } from "./events.js";

function memorySink(): ExportSink & { text: () => string; committed: boolean } {
  const chunks: Buffer[] = [];
  const sink = {
    committed: false,
    text: () => Buffer.concat(chunks).toString("utf8"),
    write: async (chunk: Uint8Array) => void chunks.push(Buffer.from(chunk)),
    commit: async () => void (sink.committed = true),
    abort: async () => {},
  };
  return sink;
}

it("quotes commas, quotes and line breaks; writes the header once; joins lines split across chunks", async () => {
  const target = memorySink();
  const csv = csvFromNdjson(target);
  const a = JSON.stringify({ deviceId: "d1", clientId: "app", at: "1700000000", event: "buy", nr: 1, userId: 7, parameters: '{"sku":"a,b","note":"say \\"hi\\""}', isTesting: true });
  const b = JSON.stringify({ deviceId: "d2", event: "multi\nline", nr: 2, at: "1700000001" });
  const text = `${a}\n${b}\n`;
  const bytes = Buffer.from(text, "utf8");
  // Split inside the first line and inside the second.
  await csv.write(bytes.subarray(0, 20));
  await csv.write(bytes.subarray(20, a.length + 10));
  await csv.write(bytes.subarray(a.length + 10));
  await csv.commit();
  expect(target.committed).toBe(true);
  expect(target.text()).toBe(
    "device_id,client_id,session,system_version,product_version,system,product_git_hash,at,event,nr,user_id,ip,parameters,is_testing,received_at\r\n" +
      'd1,app,,,,,,2023-11-14T22:13:20Z,buy,1,7,,"{""sku"":""a,b"",""note"":""say \\""hi\\""""}",true,\r\n' +
      'd2,,,,,,,2023-11-14T22:13:21Z,"multi\nline",2,,,,false,\r\n',
  );
});

it("an export without events is the header alone", async () => {
  const target = memorySink();
  const csv = csvFromNdjson(target);
  await csv.commit();
  expect(target.text()).toBe("device_id,client_id,session,system_version,product_version,system,product_git_hash,at,event,nr,user_id,ip,parameters,is_testing,received_at\r\n");
});
