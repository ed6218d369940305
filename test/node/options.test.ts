/**
 * Option resolution (src/node/options.ts), every bound read FROM THE TABLE: the test iterates
 * OPTION_BOUNDS and DEFLATE_BOUNDS, so an option added to a table is tested without a line here.
 * For each numeric option: the default applies when it is absent; min and max are accepted; one
 * below min and one above max are refused with WS_ERR_INVALID_ARGUMENT naming the option; so are
 * non-integers. Then the other options (sendOverflow, booleans, hooks), and the exported defaults.
 */

import { describe, expect, it } from 'vitest';
import { WebSocketServer, WebSocketError, type DeflateOptions, type ServerOptions } from '../../src/index.js';
import {
  DEFAULTS,
  DEFLATE_BOUNDS,
  DEFLATE_DEFAULTS,
  OPTION_BOUNDS,
  resolveDeflateOptions,
  resolveOptions,
  type Bound,
} from '../../src/node/options.js';
import { resolveServerOptions } from '../../src/node/server-options.js';

/** Runs `fn`, expects a WebSocketError WS_ERR_INVALID_ARGUMENT that names `name`; returns its message. */
function refused(fn: () => unknown, name: string): string {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, `${name} should be refused`).toBeInstanceOf(WebSocketError);
  const error = caught as WebSocketError;
  expect(error.code).toBe('WS_ERR_INVALID_ARGUMENT');
  expect(error.message).toContain(`option ${name} must be `);
  return error.message;
}

const entries = (table: Readonly<Record<string, Bound>>): [string, Bound][] => Object.entries(table);

/** Values that are not integers (or not numbers at all). */
const nonIntegers = (bound: Bound): unknown[] => [bound.min + 0.5, Number.NaN, Number.POSITIVE_INFINITY, String(bound.min), null, true, 5n, {}];

describe('the tables', () => {
  it('every bound is an integer range that holds its default', () => {
    for (const [name, bound] of [...entries(OPTION_BOUNDS), ...entries(DEFLATE_BOUNDS)]) {
      const integers = [bound.min, bound.max, bound.default].map((value) => Number.isSafeInteger(value));
      expect([name, ...integers]).toEqual([name, true, true, true]);
      expect(bound.min, name).toBeLessThanOrEqual(bound.default);
      expect(bound.default, name).toBeLessThanOrEqual(bound.max);
    }
  });

  it('DEFAULTS holds the table defaults, every numeric option is in the table, and resolving nothing gives DEFAULTS', () => {
    for (const [name, bound] of entries(OPTION_BOUNDS)) expect([name, DEFAULTS[name as keyof typeof DEFAULTS]]).toEqual([name, bound.default]);
    const numeric = Object.entries(DEFAULTS).filter(([, value]) => typeof value === 'number').map(([name]) => name);
    expect(numeric.sort()).toEqual(Object.keys(OPTION_BOUNDS).sort());
    expect({ sendOverflow: DEFAULTS.sendOverflow, perMessageDeflate: DEFAULTS.perMessageDeflate }).toEqual({ sendOverflow: 'close', perMessageDeflate: null });
    expect(resolveOptions()).toEqual(DEFAULTS);
    expect(resolveOptions({})).toEqual(DEFAULTS);
    expect(resolveServerOptions({})).toEqual(DEFAULTS);
  });

  it('DEFLATE_DEFAULTS holds the table defaults, and perMessageDeflate: true or {} gives it', () => {
    for (const [name, bound] of entries(DEFLATE_BOUNDS)) expect([name, DEFLATE_DEFAULTS[name as keyof typeof DEFLATE_DEFAULTS]]).toEqual([name, bound.default]);
    const numeric = Object.entries(DEFLATE_DEFAULTS).filter(([, value]) => typeof value === 'number').map(([name]) => name);
    expect(numeric.sort()).toEqual(Object.keys(DEFLATE_BOUNDS).sort());
    expect([DEFLATE_DEFAULTS.serverNoContextTakeover, DEFLATE_DEFAULTS.clientNoContextTakeover]).toEqual([false, false]);
    expect(resolveDeflateOptions(true)).toEqual(DEFLATE_DEFAULTS);
    expect(resolveDeflateOptions({})).toEqual(DEFLATE_DEFAULTS);
    expect(resolveOptions({ perMessageDeflate: true }).perMessageDeflate).toEqual(DEFLATE_DEFAULTS);
  });
});

describe('every connection option, from OPTION_BOUNDS', () => {
  for (const [name, bound] of entries(OPTION_BOUNDS)) {
    describe(name, () => {
      const withValue = (value: unknown): ServerOptions => ({ [name]: value }) as ServerOptions;
      const resolved = (value: unknown): unknown => (resolveOptions(withValue(value)) as unknown as Record<string, unknown>)[name];

      it(`defaults to ${bound.default}`, () => {
        expect(resolved(undefined)).toBe(bound.default);
      });

      it(`accepts its min ${bound.min} and its max ${bound.max}`, () => {
        expect(resolved(bound.min)).toBe(bound.min);
        expect(resolved(bound.max)).toBe(bound.max);
      });

      it('refuses min - 1 and max + 1 with WS_ERR_INVALID_ARGUMENT, saying the range', () => {
        const below = refused(() => resolveOptions(withValue(bound.min - 1)), name);
        expect(below).toBe(`option ${name} must be an integer from ${bound.min} to ${bound.max}, got ${bound.min - 1}`);
        refused(() => resolveOptions(withValue(bound.max + 1)), name);
        // The same check on every path in: the server constructor.
        refused(() => new WebSocketServer(withValue(bound.max + 1)), name);
      });

      it('refuses non-integers: 1.5-style fractions, NaN, Infinity, strings, null, booleans, bigints, objects', () => {
        for (const value of nonIntegers(bound)) refused(() => resolveOptions(withValue(value)), name);
        expect(refused(() => resolveOptions(withValue(String(bound.min))), name)).toContain(`got "${bound.min}"`);
      });
    });
  }
});

describe('every permessage-deflate setting, from DEFLATE_BOUNDS', () => {
  for (const [key, bound] of entries(DEFLATE_BOUNDS)) {
    const name = `perMessageDeflate.${key}`;
    describe(name, () => {
      const withValue = (value: unknown): DeflateOptions => ({ [key]: value }) as DeflateOptions;
      const resolved = (value: unknown): unknown => (resolveDeflateOptions(withValue(value)) as unknown as Record<string, unknown>)[key];

      it(`defaults to ${bound.default}`, () => {
        expect(resolved(undefined)).toBe(bound.default);
      });

      it(`accepts its min ${bound.min} and its max ${bound.max}`, () => {
        expect(resolved(bound.min)).toBe(bound.min);
        expect(resolved(bound.max)).toBe(bound.max);
        expect((resolveOptions({ perMessageDeflate: withValue(bound.max) }).perMessageDeflate as unknown as Record<string, unknown>)[key]).toBe(bound.max);
      });

      it('refuses min - 1 and max + 1 with WS_ERR_INVALID_ARGUMENT', () => {
        expect(refused(() => resolveDeflateOptions(withValue(bound.min - 1)), name)).toBe(
          `option ${name} must be an integer from ${bound.min} to ${bound.max}, got ${bound.min - 1}`,
        );
        refused(() => resolveDeflateOptions(withValue(bound.max + 1)), name);
        refused(() => new WebSocketServer({ perMessageDeflate: withValue(bound.min - 1) }), name);
      });

      it('refuses non-integers', () => {
        for (const value of nonIntegers(bound)) refused(() => resolveDeflateOptions(withValue(value)), name);
      });
    });
  }
});

describe('the other options', () => {
  it("sendOverflow: 'close' by default, 'reject' accepted, anything else refused (null included)", () => {
    expect(resolveOptions({}).sendOverflow).toBe('close');
    expect(resolveOptions({ sendOverflow: 'close' }).sendOverflow).toBe('close');
    expect(resolveOptions({ sendOverflow: 'reject' }).sendOverflow).toBe('reject');
    for (const value of ['drop', 'CLOSE', '', 0, true, null]) {
      const message = refused(() => resolveOptions({ sendOverflow: value } as unknown as ServerOptions), 'sendOverflow');
      expect(message).toContain(`must be 'close' or 'reject'`);
    }
  });

  it('perMessageDeflate: absent or false declines it, true takes the defaults, anything else but an object is refused', () => {
    expect(resolveOptions({}).perMessageDeflate).toBe(null);
    expect(resolveOptions({ perMessageDeflate: false }).perMessageDeflate).toBe(null);
    expect(resolveOptions({ perMessageDeflate: true }).perMessageDeflate).toBe(DEFLATE_DEFAULTS);
    for (const value of [null, 1, 'yes']) {
      refused(() => resolveOptions({ perMessageDeflate: value } as unknown as ServerOptions), 'perMessageDeflate');
    }
  });

  for (const key of ['serverNoContextTakeover', 'clientNoContextTakeover'] as const) {
    it(`perMessageDeflate.${key}: false by default, true and false accepted, anything else refused`, () => {
      expect(resolveDeflateOptions({})![key]).toBe(false);
      expect(resolveDeflateOptions({ [key]: true })![key]).toBe(true);
      expect(resolveDeflateOptions({ [key]: false })![key]).toBe(false);
      for (const value of ['true', 1, 0, null, {}]) {
        const message = refused(() => resolveDeflateOptions({ [key]: value } as unknown as DeflateOptions), `perMessageDeflate.${key}`);
        expect(message).toContain('must be true or false');
      }
    });
  }

  for (const hook of ['handler', 'selectProtocol', 'allowRequest', 'onError', 'onRefused', 'onHttpRequest', 'onRateLimit'] as const) {
    it(`${hook}: a function is accepted; anything else is refused`, () => {
      expect(resolveServerOptions({ [hook]: () => undefined })).toEqual(DEFAULTS);
      for (const value of ['f', 1, {}, null, true]) {
        const message = refused(() => resolveServerOptions({ [hook]: value } as unknown as ServerOptions), hook);
        expect(message).toContain('must be a function');
        refused(() => new WebSocketServer({ [hook]: value } as unknown as ServerOptions), hook);
      }
    });
  }

  it('options that are not an object are refused', () => {
    for (const value of [null, 'x', 1]) refused(() => resolveOptions(value as unknown as ServerOptions), 'options');
  });
});
