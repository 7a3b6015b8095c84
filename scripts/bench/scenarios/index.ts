import type { Scenario } from "../scenario.js";
import { pipelineScenario } from "./pipeline.js";
import { footprintScenario } from "./footprint.js";
import { modbusPollScenario } from "./modbus-poll.js";
import { modbusSimScenario } from "./modbus-sim.js";
import { agentLoadScenario } from "./agent-load.js";
import { opcuaScenario } from "./opcua.js";
import { rulesScenario } from "./rules.js";
import { storeScenario } from "./store.js";
import { otaVerifyScenario } from "./ota-verify.js";
import { startupScenario } from "./startup.js";

/** Every scenario, in the order `npm run bench` runs them. A new scenario adds one line here. */
export const scenarios: readonly Scenario[] = [
  pipelineScenario,
  storeScenario,
  footprintScenario,
  modbusPollScenario,
  modbusSimScenario,
  agentLoadScenario,
  opcuaScenario,
  rulesScenario,
  otaVerifyScenario,
  startupScenario,
];
