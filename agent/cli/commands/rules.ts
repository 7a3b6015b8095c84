import type { RuleView } from "../../rules/service.js";
import { EXIT, UsageError, type Command } from "../command.js";
import { apiClient, clientOptions, clientOptionsHelp, enc, print, table } from "../api-client.js";

export const rulesCommand: Command = {
  name: "rules",
  summary: "List, switch, reload and dry-run rules",
  help: `Usage: edge-agent rules list | get ID | enable ID | disable ID | reload  [options]
       edge-agent rules test --from TIME --to TIME [--config FILE] [--rules FILE] [--db FILE]

list, get, enable, disable and reload talk to the running agent (enable, disable and reload need
the token). reload re-reads the rules of the agent's config file: an invalid set is refused as a
whole, every problem listed, and the running rules stay.

test is a dry run: it replays the samples stored in the local history between --from and --to
through the rules of the config file (or --rules FILE, YAML with rules: and virtualPoints:) and
prints what would have fired. It opens the database read-only, so it works while the agent runs,
and never writes to a device. TIME is ISO 8601 (2024-05-01T08:00:00Z), "now", or relative to now: -2h, -30m, -1d (write
--from=-2h with "=": a value starting with a dash would read as an option).

Options:
${clientOptionsHelp}
      --from TIME    start of the dry run window (test)
      --to TIME      end of the window (test; default now)
      --rules FILE   rules to test instead of the config file's (test)
      --db FILE      the database (test; default store.path or {dataDir}/edge.db)`,
  options: { ...clientOptions, from: { type: "string" }, to: { type: "string" }, rules: { type: "string" }, db: { type: "string" } },
  positionals: true,
  async run(values, [sub, ...args]) {
    if (sub === "test") {
      if (args.length > 0) throw new UsageError(`rules test takes no argument "${args[0]}"`);
      const { rulesTest } = await import("../rules-test.js");
      return rulesTest(values);
    }
    const client = await apiClient(values);
    const one = args[0] ?? "";
    if (sub === "list" && args.length === 0) {
      const rules = (await client.get("/rules")) as RuleView[];
      const rows = rules.map((r) => [r.id, r.source, r.enabled ? "yes" : "no", r.state, r.condition === null ? "-" : String(r.condition), String(r.evaluations), r.lastError ?? ""]);
      print(client, rules, rules.length ? table(["RULE", "SOURCE", "ENABLED", "STATE", "CONDITION", "EVALUATIONS", "LAST ERROR"], rows) : "no rules");
      return EXIT.ok;
    }
    if (sub === "get" && args.length === 1) {
      print(client, await client.get(`/rules/${enc(one)}`));
      return EXIT.ok;
    }
    if ((sub === "enable" || sub === "disable") && args.length === 1) {
      const r = (await client.send("POST", `/rules/${enc(one)}/${sub}`)) as RuleView;
      print(client, r, `rule ${r.id} is ${r.enabled ? "enabled" : "disabled"} (${r.state})`);
      return EXIT.ok;
    }
    if (sub === "reload" && args.length === 0) {
      const r = (await client.send("POST", "/rules/reload")) as { rules: RuleView[]; virtualPoints: number };
      print(client, r, `rules reloaded: ${r.rules.length} rule(s), ${r.virtualPoints} virtual point(s)`);
      return EXIT.ok;
    }
    throw new UsageError("rules takes: list | get ID | enable ID | disable ID | reload | test --from TIME --to TIME");
  },
};
