import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deterministicId } from '../../src/eventsourcing/deterministicId.ts';
import type { BusinessHours, Chatbot, ChatbotTrigger } from '../../src/flow/chatbot.ts';
import { isOpen, triggeredChatbot } from '../../src/flow/triggers.ts';

const chatbot = (name: string, triggers: ChatbotTrigger[]): Chatbot => ({
  id: deterministicId(`test/chatbot/${name}`),
  name,
  channelId: deterministicId('test/channel/main'),
  flowId: deterministicId(`test/flow/${name}`),
  triggers,
  businessHours: null,
  enabled: true,
});

const keyword = (value: string, match?: 'exact' | 'contains' | 'regex'): ChatbotTrigger => ({
  type: 'keyword',
  value,
  ...(match ? { match } : {}),
});

/** The name of the chatbot `text` starts, with the trigger that matched. */
const started = (chatbots: Chatbot[], text: string | null, newSession = false) => {
  const triggered = triggeredChatbot(chatbots, text, newSession);
  return triggered && { chatbot: triggered.chatbot.name, trigger: triggered.trigger };
};

describe('triggeredChatbot: keywords', () => {
  const menu = chatbot('menu', [keyword('Menú')]);

  it('matches an exact keyword, case, accents and surrounding spaces ignored', () => {
    for (const text of ['Menú', 'menu', ' MENU ', 'menú']) {
      assert.deepEqual(started([menu], text), { chatbot: 'menu', trigger: keyword('Menú') }, text);
    }
  });

  it('takes exact as the default match', () => {
    assert.equal(started([menu], 'show me the menu'), undefined);
  });

  it('matches a contained keyword', () => {
    const prices = chatbot('prices', [keyword('preço', 'contains')]);
    assert.equal(started([prices], 'Qual o PRECO do plano?')?.chatbot, 'prices');
    assert.equal(started([prices], 'quanto custa?'), undefined);
  });

  it('matches a regex, case ignored', () => {
    const orders = chatbot('orders', [keyword('^order\\s+#?\\d+$', 'regex')]);
    assert.equal(started([orders], 'ORDER #42')?.chatbot, 'orders');
    assert.equal(started([orders], 'order 42')?.chatbot, 'orders');
    assert.equal(started([orders], 'my order 42'), undefined);
  });

  it('matches a keyword on a new session too, before any default', () => {
    const fallback = chatbot('fallback', [{ type: 'default' }]);
    assert.equal(started([fallback, menu], 'menu', true)?.chatbot, 'menu');
  });

  it('lets the first chatbot with a matching keyword win', () => {
    const first = chatbot('first', [keyword('hello', 'contains')]);
    const second = chatbot('second', [keyword('hello')]);
    assert.equal(started([first, second], 'hello')?.chatbot, 'first');
    assert.equal(started([second, first], 'hello')?.chatbot, 'second');
  });

  it('looks at every trigger of a chatbot', () => {
    const support = chatbot('support', [keyword('help'), keyword('ajuda'), { type: 'default' }]);
    assert.deepEqual(started([support], 'AJUDA'), { chatbot: 'support', trigger: keyword('ajuda') });
  });

  it('matches no keyword without text', () => {
    assert.equal(started([chatbot('any', [keyword('.*', 'regex')])], null), undefined);
  });
});

describe('triggeredChatbot: default', () => {
  const menu = chatbot('menu', [keyword('menu')]);
  const welcome = chatbot('welcome', [{ type: 'default' }]);
  const other = chatbot('other', [{ type: 'default' }]);

  it('starts the first default on a new session', () => {
    assert.deepEqual(started([menu, welcome, other], 'hi', true), {
      chatbot: 'welcome',
      trigger: { type: 'default' },
    });
  });

  it('starts a default on a new session even without text', () => {
    assert.equal(started([welcome], null, true)?.chatbot, 'welcome');
  });

  it('starts nothing by default mid-conversation', () => {
    assert.equal(started([menu, welcome], 'hi', false), undefined);
  });

  it('starts nothing without chatbots', () => {
    assert.equal(started([], 'menu', true), undefined);
  });
});

describe('isOpen', () => {
  const weekdays = (timezone: string, from = '09:00', to = '18:00'): BusinessHours => ({
    timezone,
    weekly: (['mon', 'tue', 'wed', 'thu', 'fri'] as const).map((day) => ({ day, from, to })),
  });

  // 2026-11-23 is a Monday.
  it('reads the time in the business’s time zone', () => {
    assert.equal(isOpen(weekdays('UTC'), '2026-11-23T08:30:00Z'), false);
    assert.equal(isOpen(weekdays('Asia/Tokyo'), '2026-11-23T08:30:00Z'), true, '17:30 in Tokyo');
    assert.equal(isOpen(weekdays('America/Sao_Paulo'), '2026-11-23T08:30:00Z'), false, '05:30 in São Paulo');
    assert.equal(isOpen(weekdays('America/Sao_Paulo'), '2026-11-23T12:30:00Z'), true, '09:30 in São Paulo');
  });

  it('opens at `from` and closes at `to`', () => {
    const hours = weekdays('America/Sao_Paulo');
    assert.equal(isOpen(hours, '2026-11-23T11:59:59Z'), false, '08:59');
    assert.equal(isOpen(hours, '2026-11-23T12:00:00Z'), true, '09:00');
    assert.equal(isOpen(hours, '2026-11-23T20:59:59Z'), true, '17:59');
    assert.equal(isOpen(hours, '2026-11-23T21:00:00Z'), false, '18:00');
  });

  it('reads the day in the business’s time zone', () => {
    // Sunday 23:30 UTC is Monday 08:30 in Tokyo; Tuesday 01:00 UTC is Monday 17:00 in Los Angeles.
    assert.equal(isOpen(weekdays('Asia/Tokyo', '08:00'), '2026-11-22T23:30:00Z'), true);
    assert.equal(isOpen(weekdays('UTC', '08:00'), '2026-11-22T23:30:00Z'), false);
    const sunday = {
      timezone: 'America/Los_Angeles',
      weekly: [{ day: 'sun' as const, from: '00:00', to: '24:00' }],
    };
    assert.equal(isOpen(sunday, '2026-11-23T07:59:00Z'), true, 'Sunday 23:59 in Los Angeles');
    assert.equal(isOpen(sunday, '2026-11-23T08:00:00Z'), false, 'Monday 00:00 in Los Angeles');
    assert.equal(isOpen(weekdays('America/Los_Angeles'), '2026-11-24T01:00:00Z'), true);
  });

  it('follows daylight saving time', () => {
    // 13:00 UTC on a Monday: 09:00 in New York in July (EDT), 08:00 in November (EST).
    assert.equal(isOpen(weekdays('America/New_York'), '2026-07-06T13:00:00Z'), true);
    assert.equal(isOpen(weekdays('America/New_York'), '2026-11-23T13:00:00Z'), false);
  });

  it('is closed on a day without hours', () => {
    const hours = weekdays('UTC', '00:00', '24:00');
    assert.equal(isOpen(hours, '2026-11-23T12:00:00Z'), true, 'Monday');
    assert.equal(isOpen(hours, '2026-11-28T12:00:00Z'), false, 'Saturday');
    assert.equal(isOpen(hours, '2026-11-29T12:00:00Z'), false, 'Sunday');
    assert.equal(isOpen({ timezone: 'UTC', weekly: [] }, '2026-11-23T12:00:00Z'), false, 'no hours at all');
  });

  it('opens at midnight and until 24:00', () => {
    const hours: BusinessHours = {
      timezone: 'Europe/Lisbon',
      weekly: [
        { day: 'mon', from: '00:00', to: '01:00' },
        { day: 'mon', from: '22:00', to: '24:00' },
      ],
    };
    assert.equal(isOpen(hours, '2026-11-23T00:00:00Z'), true, '00:00');
    assert.equal(isOpen(hours, '2026-11-23T00:30:00Z'), true, '00:30');
    assert.equal(isOpen(hours, '2026-11-23T12:00:00Z'), false, '12:00');
    assert.equal(isOpen(hours, '2026-11-23T23:59:00Z'), true, '23:59');
    assert.equal(isOpen(hours, '2026-11-24T00:00:00Z'), false, 'Tuesday 00:00');
  });
});
