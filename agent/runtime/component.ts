import type { Logger } from "../../edge/logger.js";
import { errorMessage } from "../../edge/errors.js";

/** A part of the agent with a lifetime: started in dependency order, stopped in reverse. */
export interface Component {
  readonly name: string;
  start(): Promise<void> | void;
  stop(): Promise<void> | void;
}

/**
 * Starts components one after the other; if one fails, those already started are stopped again (in
 * reverse) and the error is rethrown, so a failed start never leaves a half-running agent.
 */
export class ComponentStack {
  private readonly started: Component[] = [];

  constructor(private readonly logger: Logger) {}

  async start(components: readonly Component[]): Promise<void> {
    for (const c of components) {
      try {
        await c.start();
      } catch (err) {
        this.logger.error({ component: c.name, err: errorMessage(err) }, "start failed; stopping what was started");
        await this.stop();
        throw err;
      }
      this.started.push(c);
      this.logger.debug({ component: c.name }, "started");
    }
  }

  /** Stops everything started, last first; a failing stop is logged and the rest still stop. */
  async stop(): Promise<void> {
    while (this.started.length > 0) {
      const c = this.started.pop();
      if (!c) break;
      try {
        await c.stop();
        this.logger.debug({ component: c.name }, "stopped");
      } catch (err) {
        this.logger.error({ component: c.name, err: errorMessage(err) }, "stop failed");
      }
    }
  }
}
