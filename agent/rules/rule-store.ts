import type Database from "better-sqlite3";
import { migrate } from "../../edge/store/migrations.js";
import type { RuleInput } from "../../edge/rules/index.js";

/**
 * Rules changed through the local API, in the agent's SQLite file (tables api_rules and
 * rule_switches): the definitions of API rules, and the enabled switch an operator flipped on any
 * rule. Both survive restarts; the config file stays the truth for the rules it defines.
 */
export class RuleStore {
  private readonly allRules: Database.Statement<[], { id: string; json: string }>;
  private readonly upsertRule: Database.Statement<[string, string, number]>;
  private readonly deleteRule: Database.Statement<[string]>;
  private readonly allSwitches: Database.Statement<[], { id: string; enabled: number }>;
  private readonly upsertSwitch: Database.Statement<[string, number, number]>;
  private readonly deleteSwitch: Database.Statement<[string]>;

  constructor(private readonly db: Database.Database) {
    // A no-op when the outbox already migrated this file.
    migrate(db);
    this.allRules = db.prepare("SELECT id, json FROM api_rules ORDER BY rowid");
    this.upsertRule = db.prepare("INSERT INTO api_rules (id, json, updated_at) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET json = excluded.json, updated_at = excluded.updated_at");
    this.deleteRule = db.prepare("DELETE FROM api_rules WHERE id = ?");
    this.allSwitches = db.prepare("SELECT id, enabled FROM rule_switches");
    this.upsertSwitch = db.prepare(
      "INSERT INTO rule_switches (id, enabled, updated_at) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at",
    );
    this.deleteSwitch = db.prepare("DELETE FROM rule_switches WHERE id = ?");
  }

  /** API rules in the order they were first created. */
  apiRules(): RuleInput[] {
    return this.allRules.all().map((r) => JSON.parse(r.json) as RuleInput);
  }

  /** Rule id -> enabled, for the rules an operator switched. */
  switches(): Map<string, boolean> {
    return new Map(this.allSwitches.all().map((r) => [r.id, r.enabled === 1]));
  }

  saveRule(rule: RuleInput, now: number): void {
    this.upsertRule.run(rule.id, JSON.stringify(rule), now);
  }

  removeRule(id: string): void {
    this.deleteRule.run(id);
    this.deleteSwitch.run(id);
  }

  removeSwitch(id: string): void {
    this.deleteSwitch.run(id);
  }

  saveSwitch(id: string, enabled: boolean, now: number): void {
    this.upsertSwitch.run(id, enabled ? 1 : 0, now);
  }

  /** Runs `work` in one transaction: a change is persisted only if the engine accepted it. */
  atomically<T>(work: () => T): T {
    return this.db.transaction(work)();
  }
}
