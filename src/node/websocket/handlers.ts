/**
 * Event handler IDL attributes (`onopen`, `onmessage`, ...) as the HTML Standard defines them
 * ("Event handlers", 8.1.8.1): the first non-null value registers ONE listener, at that point in
 * the listener order; assigning another function replaces the handler but keeps its place;
 * assigning null (or anything that is not a function) removes the listener. They work alongside
 * addEventListener, as in a browser.
 */

/**
 * The type of the WebSocket's `onopen`, `onmessage`, `onerror` and `onclose` attributes: a
 * listener called with `this` the WebSocket, or null for none.
 */
export type EventHandler<E extends Event, T> = ((this: T, event: E) => unknown) | null;

interface Slot {
  value: ((event: Event) => unknown) | null;
  listener: ((event: Event) => void) | null;
}

export class EventHandlers {
  readonly #target: EventTarget;
  readonly #slots = new Map<string, Slot>();

  constructor(target: EventTarget) {
    this.#target = target;
  }

  get(type: string): ((event: Event) => unknown) | null {
    return this.#slots.get(type)?.value ?? null;
  }

  set(type: string, value: unknown): void {
    let slot = this.#slots.get(type);
    if (slot === undefined) this.#slots.set(type, (slot = { value: null, listener: null }));
    // [LegacyTreatNonObjectAsNull] callback: a value that cannot be called is null.
    if (typeof value !== 'function') {
      slot.value = null;
      if (slot.listener !== null) this.#target.removeEventListener(type, slot.listener);
      slot.listener = null;
      return;
    }
    slot.value = value as (event: Event) => unknown;
    if (slot.listener === null) {
      const target = this.#target;
      const current = slot;
      // "The event handler processing algorithm": call whatever the attribute holds now.
      current.listener = (event: Event): void => {
        current.value?.call(target, event);
      };
      target.addEventListener(type, current.listener);
    }
  }
}
