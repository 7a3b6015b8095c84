import type Database from "better-sqlite3";
import type { Logger } from "../../edge/logger.js";
import type { Clock, Sample, SampleValue } from "../../edge/model.js";
import { EdgeError, errorMessage } from "../../edge/errors.js";
// Not edge/rules/index.js: it brings the rule schemas, and with them zod (~12 MB resident), which an
// agent without rules never needs. The schemas load on demand through schema-loader.js.
import { RuleEngine, RuleSetError } from "../../edge/rules/engine-core.js";
import { SqliteAlarmStore } from "../../edge/rules/sqlite-alarm-store.js";
import { requireRuleSchemas } from "../../edge/rules/schema-loader.js";
import { loadRuleSchemas } from "./load-schemas.js";
import type { Alarm, AlarmChange } from "../../edge/rules/alarms.js";
import type { RuleConfig, Severity, VirtualPointConfig } from "../../edge/rules/schema.js";
import type { RulePointInfo, RuleSource } from "../../edge/rules/rule.js";
import type { RuleEvent } from "../../edge/rules/events.js";
import type { RuleStatus } from "../../edge/rules/runtime-state.js";
import { RuleStore } from "./rule-store.js";

/** The rules of the config file: what the service starts from and what a reload re-reads. */
export interface ConfigRules {
  virtualPoints: VirtualPointConfig[];
  rules: RuleConfig[];
}

export interface RulesServiceOptions {
  /** The agent's database (alarms, API rules, switches live beside the outbox). */
  db: Database.Database;
  points: readonly RulePointInfo[];
  configRules: ConfigRules;
  /** Re-reads the config file's rules for a hot reload; throws RuleSetError listing the problems. */
  readConfigRules?: () => Promise<ConfigRules>;
  writePoint: (pointId: string, value: SampleValue) => Promise<unknown>;
  onAlarm: (change: AlarmChange) => void;
  onEvent: (event: RuleEvent) => void;
  onVirtualSamples: (samples: Sample[]) => void;
  /** The virtual point ids after every (re)load, so the pipeline stores their samples. */
  onVirtualPoints: (ids: string[]) => void;
  logger: Logger;
  clock: Clock;
  /** How often time-driven rules (for, windows, staleAfter, held writes) are ticked. Default 250 ms. */
  tickMs?: number;
}

/** A rule as the API shows it: its live state and its definition. */
export type RuleView = RuleStatus & { definition: RuleConfig };

export interface AlarmFilter {
  /** open = not yet closed (active, acknowledged, cleared-unacknowledged); all = the newest of any state. */
  state: "open" | "all";
  rule?: string | undefined;
  severity?: Severity | undefined;
  limit: number;
}

export interface RulesStats {
  rules: number;
  evaluations: number;
  samples: number;
  actionErrors: number;
  cascadeCutoffs: number;
  /** Alarms whose rule is still active (active or acknowledged), by severity. */
  alarmsActive: Record<Severity, number>;
  /** Alarms waiting for an operator (active or cleared-unacknowledged). */
  alarmsUnacknowledged: number;
}

const SEVERITIES: readonly Severity[] = ["critical", "major", "minor", "warning", "info"];

/**
 * The rules at run time: one engine fed by the pipeline, its alarms in SQLite, API-managed rules
 * persisted beside the config file's ones. Every change compiles the whole merged set first: an
 * invalid set is refused as a whole and the running one stays.
 */
export class RulesService {
  private readonly engine: RuleEngine;
  private readonly store: RuleStore;
  private readonly alarmStore: SqliteAlarmStore;
  private configRules: ConfigRules;
  /** The definitions loaded now, by id (config and API), in load order. */
  private definitions = new Map<string, { rule: RuleConfig; source: RuleSource }>();
  private timer: NodeJS.Timeout | null = null;
  private actionErrors = 0;

  constructor(private readonly options: RulesServiceOptions) {
    this.store = new RuleStore(options.db);
    this.alarmStore = new SqliteAlarmStore(options.db, { clock: options.clock });
    this.configRules = options.configRules;
    const log = options.logger;
    this.engine = new RuleEngine({
      points: options.points,
      clock: options.clock,
      alarmStore: this.alarmStore,
      logger: log,
      writePoint: async (id, value) => {
        await options.writePoint(id, value);
      },
      onAlarm: options.onAlarm,
      onEvent: options.onEvent,
      onVirtualSamples: options.onVirtualSamples,
      onActionError: (e) => {
        this.actionErrors++;
        log.warn({ rule: e.rule, action: e.action, err: e.message }, "rule action failed");
      },
      onAction: (f) => {
        if (f.action === "write" && log.isLevelEnabled("debug")) log.debug({ rule: f.rule, point: f.point, value: f.value }, "rule wrote a point");
      },
    });
  }

  /**
   * Loads config + persisted API rules and starts the tick timer. Throws RuleSetError on an invalid set.
   * Needs the rule schemas when there is any rule or virtual point: await prepare() first.
   */
  start(): void {
    const api = this.store.apiRules();
    this.apply(this.configRules, api.length === 0 ? [] : api.map((r) => requireRuleSchemas().ruleSchema.parse(r)), this.store.switches());
    const every = this.options.tickMs ?? 250;
    this.timer = setInterval(() => this.tick(), every);
    this.timer.unref();
  }

  /** Loads the rule schemas (zod) if start() will validate something: config rules, virtual points, API rules. */
  async prepare(): Promise<void> {
    if (this.configRules.rules.length > 0 || this.configRules.virtualPoints.length > 0 || this.store.apiRules().length > 0) await loadRuleSchemas();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  onSamples(samples: readonly Sample[]): void {
    this.engine.onSamples(samples);
  }

  private tick(): void {
    if (!this.engine.hasTimeRules() && this.engine.nextDeadline() === null) return;
    try {
      this.engine.tick();
    } catch (err) {
      this.options.logger.error({ err: errorMessage(err) }, "rules tick failed");
    }
  }

  list(): RuleView[] {
    return this.engine.list().map((s) => this.view(s));
  }

  get(id: string): RuleView {
    const s = this.engine.get(id);
    if (!s) throw new EdgeError("RULE_UNKNOWN", `no rule "${id}"`);
    return this.view(s);
  }

  /** Adds an API rule; its id must be new. Persisted only when the whole set compiles. */
  create(input: unknown): RuleView {
    const rule = parseRule(input);
    if (this.definitions.has(rule.id)) throw new EdgeError("RULE_EXISTS", `a rule "${rule.id}" exists already (PUT /rules/${rule.id} replaces an API rule)`);
    this.change(rule.id, (api) => [...api, rule], () => this.store.saveRule(rule, this.options.clock()));
    return this.get(rule.id);
  }

  /** Replaces an API rule (or creates it under that id). Config rules are changed in the file, then reloaded. */
  replace(id: string, input: unknown): RuleView {
    const rule = parseRule(typeof input === "object" && input !== null && !("id" in input) ? { ...input, id } : input);
    if (rule.id !== id) throw new EdgeError("RULE_ID_MISMATCH", `the body names rule "${rule.id}" but the path names "${id}"`);
    this.refuseConfigRule(id, "replaced");
    this.change(
      id,
      (api) => (api.some((r) => r.id === id) ? api.map((r) => (r.id === id ? rule : r)) : [...api, rule]),
      () => {
        this.store.saveRule(rule, this.options.clock());
        // The new definition's `enabled` is what the operator just sent: an older switch no longer applies.
        this.store.removeSwitch(id);
      },
    );
    return this.get(id);
  }

  remove(id: string): void {
    if (!this.definitions.has(id)) throw new EdgeError("RULE_UNKNOWN", `no rule "${id}"`);
    this.refuseConfigRule(id, "deleted");
    this.change(id, (api) => api.filter((r) => r.id !== id), () => this.store.removeRule(id));
  }

  /** Switches a rule (config or API) on or off; the switch is persisted and outlives restarts. */
  setEnabled(id: string, enabled: boolean): RuleView {
    if (!this.definitions.has(id)) throw new EdgeError("RULE_UNKNOWN", `no rule "${id}"`);
    this.store.atomically(() => {
      this.store.saveSwitch(id, enabled, this.options.clock());
      this.engine.setEnabled(id, enabled);
    });
    this.options.logger.info({ rule: id, enabled }, enabled ? "rule enabled" : "rule disabled");
    return this.get(id);
  }

  /** Re-reads the config file's rules and swaps them in (API rules stay); refused as a whole when invalid. */
  async reloadConfig(): Promise<{ rules: number; virtualPoints: number }> {
    const read = this.options.readConfigRules;
    if (!read) throw new EdgeError("RELOAD_UNAVAILABLE", "this agent was started without a config file to re-read");
    const next = await read();
    await loadRuleSchemas();
    this.apply(next, this.apiDefinitions(), this.store.switches());
    this.configRules = next;
    this.options.logger.info({ rules: this.definitions.size }, "rules reloaded from the config file");
    return { rules: this.definitions.size, virtualPoints: next.virtualPoints.length };
  }

  alarms(filter: AlarmFilter): Alarm[] {
    const rows = filter.state === "open" ? this.engine.openAlarms() : this.alarmStore.recent(filter.limit);
    return rows.filter((a) => (filter.rule === undefined || a.rule === filter.rule) && (filter.severity === undefined || a.severity === filter.severity)).slice(0, filter.limit);
  }

  acknowledge(alarmId: number, by: string | null): Alarm {
    return this.engine.acknowledge(alarmId, by);
  }

  virtualPoints(): readonly VirtualPointConfig[] {
    return this.engine.virtualPoints();
  }

  stats(): RulesStats {
    const s = this.engine.stats();
    const alarmsActive = Object.fromEntries(SEVERITIES.map((v) => [v, 0])) as Record<Severity, number>;
    let alarmsUnacknowledged = 0;
    for (const a of this.engine.openAlarms()) {
      if (a.state === "active" || a.state === "acknowledged") alarmsActive[a.severity]++;
      if (a.state === "active" || a.state === "cleared-unacknowledged") alarmsUnacknowledged++;
    }
    return { rules: s.rules, evaluations: s.evaluations, samples: s.samples, actionErrors: this.actionErrors, cascadeCutoffs: s.cascadeCutoffs, alarmsActive, alarmsUnacknowledged };
  }

  private view(s: RuleStatus): RuleView {
    const def = this.definitions.get(s.id);
    if (!def) throw new Error(`rule "${s.id}" is loaded without a definition`);
    return { ...s, definition: def.rule };
  }

  private refuseConfigRule(id: string, verb: string): void {
    if (this.definitions.get(id)?.source === "config") {
      throw new EdgeError("RULE_FROM_CONFIG", `rule "${id}" comes from the config file and cannot be ${verb} through the API: change the file, then POST /rules/reload`);
    }
  }

  private apiDefinitions(): RuleConfig[] {
    return [...this.definitions.values()].filter((d) => d.source === "api").map((d) => d.rule);
  }

  /** Applies a change to the API rules: compiled with the rest, persisted in the same transaction. */
  private change(id: string, edit: (api: RuleConfig[]) => RuleConfig[], persist: () => void): void {
    const api = edit(this.apiDefinitions());
    const switches = this.store.switches();
    switches.delete(id);
    this.store.atomically(() => {
      persist();
      this.apply(this.configRules, api, switches);
    });
  }

  /**
   * Merges config rules and API rules (a config rule wins an id clash, with a warning), applies the
   * operator's switches, and loads the set into the engine. Throws RuleSetError and changes nothing
   * when the set does not compile.
   */
  private apply(config: ConfigRules, api: readonly RuleConfig[], switches: ReadonlyMap<string, boolean>): void {
    const fromConfig = new Set(config.rules.map((r) => r.id));
    const definitions = new Map<string, { rule: RuleConfig; source: RuleSource }>();
    for (const r of config.rules) definitions.set(r.id, { rule: r, source: "config" });
    for (const r of api) {
      if (fromConfig.has(r.id)) {
        this.options.logger.warn({ rule: r.id }, "an API rule has the id of a rule in the config file: the config file's rule runs");
        continue;
      }
      definitions.set(r.id, { rule: r, source: "api" });
    }
    const rules = [...definitions.values()].map(({ rule }) => {
      const on = switches.get(rule.id);
      return on === undefined || on === rule.enabled ? rule : { ...rule, enabled: on };
    });
    const sources = new Map([...definitions].map(([id, d]) => [id, d.source]));
    const before = this.engine.virtualPoints().map((v) => v.id);
    const after = config.virtualPoints.map((v) => v.id);
    // Loading evaluates every rule once: samples of new virtual points must already be accepted.
    this.options.onVirtualPoints([...before, ...after]);
    try {
      this.engine.load({ virtualPoints: config.virtualPoints, rules }, { sources });
    } catch (err) {
      this.options.onVirtualPoints(before);
      throw err;
    }
    this.definitions = definitions;
    this.options.onVirtualPoints(after);
  }
}

/** Validates one rule body; a bad one is a RuleSetError listing every field problem. */
function parseRule(input: unknown): RuleConfig {
  const parsed = requireRuleSchemas().ruleSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw new RuleSetError(parsed.error.issues.map((i) => `${i.path.length ? i.path.map(String).join(".") : "rule"}: ${i.message}`));
}
