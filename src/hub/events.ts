/**
 * The hub's typed events (issue 11: drops and policy closes "reported through an event"). Events
 * raised while a publish is delivering are held until its delivery loop ends, so a listener that
 * subscribes, unsubscribes or publishes sees a consistent hub and cannot change who gets the
 * message being delivered. A listener that throws does not stop the others or the publish.
 */

/**
 * A hub event listener (Hub.on()). It runs after the delivery loop that raised the event; what it
 * throws goes to the hub's `onError`, and the other listeners still run.
 */
export type Listener<T> = (event: T) => void;

export class HubEventTarget<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();
  private readonly held: (() => void)[] = [];
  private holds = 0;
  private readonly onError: (error: unknown) => void;

  constructor(onError: (error: unknown) => void) {
    this.onError = onError;
  }

  /** Adds a listener; returns the function that removes it. */
  on<K extends keyof Events>(type: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners.get(type);
    if (set === undefined) this.listeners.set(type, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  /** Whether anyone listens: events nobody listens to are not built. */
  has<K extends keyof Events>(type: K): boolean {
    return (this.listeners.get(type)?.size ?? 0) > 0;
  }

  emit<K extends keyof Events>(type: K, event: Events[K]): void {
    const set = this.listeners.get(type);
    if (set === undefined || set.size === 0) return;
    if (this.holds > 0) this.held.push(() => this.dispatch(set, event));
    else this.dispatch(set, event);
  }

  /** Runs `work` with events held, then dispatches them (nested holds dispatch at the outermost). */
  holding<R>(work: () => R): R {
    this.holds++;
    try {
      return work();
    } finally {
      if (--this.holds === 0) this.release();
    }
  }

  private release(): void {
    // Held while releasing: what a listener's own publish emits joins this loop, in order, rather
    // than starting a second loop over the same list.
    this.holds++;
    try {
      for (let i = 0; i < this.held.length; i++) this.held[i]!();
    } finally {
      this.held.length = 0;
      this.holds--;
    }
  }

  private dispatch<T>(set: Set<Listener<never>>, event: T): void {
    for (const listener of [...set] as Listener<T>[]) {
      try {
        listener(event);
      } catch (error) {
        this.onError(error);
      }
    }
  }
}
