/**
 * Connections several drivers share, such as one RS-485 line polled for several unit ids. The
 * runtime owns one pool per run; a driver acquires a resource by key and releases it on stop, and
 * the last release closes it.
 */
export class SharedResources {
  private readonly entries = new Map<string, { value: unknown; users: number; close: () => Promise<void> }>();

  acquire<T>(key: string, create: () => T, close: (value: T) => Promise<void>): { value: T; release: () => Promise<void> } {
    let entry = this.entries.get(key);
    if (!entry) {
      const value = create();
      entry = { value, users: 0, close: () => close(value) };
      this.entries.set(key, entry);
    }
    entry.users++;
    const e = entry;
    let released = false;
    return {
      value: e.value as T,
      release: async () => {
        if (released) return;
        released = true;
        if (--e.users === 0) {
          this.entries.delete(key);
          await e.close();
        }
      },
    };
  }
}
