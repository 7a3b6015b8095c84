/**
 * Sparkplug's message sequence number: NBIRTH carries 0 and every later message of the edge node
 * (DBIRTH, NDATA, DDATA) the next value, wrapping 255 -> 0, so a host can spot a lost message.
 */
export class SeqCounter {
  private nextValue = 0;

  /** The value for the next message, then advances. */
  next(): number {
    const v = this.nextValue;
    this.nextValue = (v + 1) & 0xff;
    return v;
  }

  /** Starts again at 0: called right before every NBIRTH (first connect, reconnect, rebirth). */
  reset(): void {
    this.nextValue = 0;
  }

  /** The value the next message will carry (for status). */
  peek(): number {
    return this.nextValue;
  }
}
