import type { Alarm } from "../../../edge/rules/index.js";
import { EXIT, UsageError, type Command } from "../command.js";
import { apiClient, clientOptions, clientOptionsHelp, print, table } from "../api-client.js";

export const alarmsCommand: Command = {
  name: "alarms",
  summary: "List and acknowledge alarms of the running agent",
  help: `Usage: edge-agent alarms list [--all] | ack ID  [options]

list shows the alarms not yet closed (active, acknowledged, cleared and waiting for an
acknowledgement); --all shows the newest alarms of any state. ack needs the token.

Options:
      --all          every state, newest first
${clientOptionsHelp}`,
  options: { ...clientOptions, all: { type: "boolean" } },
  positionals: true,
  async run(values, [sub, ...args]) {
    const client = await apiClient(values);
    if (sub === "list" && args.length === 0) {
      const alarms = (await client.get(`/alarms?state=${values.all ? "all" : "active"}`)) as Alarm[];
      const rows = alarms.map((a) => [String(a.id), a.rule, a.severity, a.state, new Date(a.raisedAt).toISOString(), a.message]);
      print(client, alarms, alarms.length ? table(["ID", "RULE", "SEVERITY", "STATE", "RAISED", "MESSAGE"], rows) : "no alarms");
      return EXIT.ok;
    }
    if (sub === "ack" && args.length === 1) {
      if (!/^\d+$/.test(args[0] ?? "")) throw new UsageError(`alarms ack takes an alarm id (a number), got ${JSON.stringify(args[0])}`);
      const a = (await client.send("POST", `/alarms/${args[0]}/ack`)) as Alarm;
      print(client, a, `alarm ${a.id} (${a.rule}) is now ${a.state}`);
      return EXIT.ok;
    }
    throw new UsageError("alarms takes: list [--all] | ack ID");
  },
};
