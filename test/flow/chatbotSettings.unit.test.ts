import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chatbotSettingErrors } from '../../src/flow/chatbotSettings.ts';

describe('chatbot settings', () => {
  it('accepts compiling regexes, known time zones and slots that end after they start', () => {
    assert.deepEqual(
      chatbotSettingErrors({
        triggers: [
          { type: 'keyword', value: '^(oi|olá)\\b', match: 'regex' },
          { type: 'keyword', value: '(' },
        ],
        businessHours: { timezone: 'Europe/Lisbon', weekly: [{ day: 'fri', from: '22:00', to: '24:00' }] },
      }),
      [],
    );
    assert.deepEqual(chatbotSettingErrors({ businessHours: null }), []);
  });

  it('names each problem by its path', () => {
    assert.deepEqual(
      chatbotSettingErrors({
        triggers: [{ type: 'default' }, { type: 'keyword', value: 'a(', match: 'regex' }],
        businessHours: {
          timezone: 'Moon/Tranquility',
          weekly: [
            { day: 'mon', from: '09:00', to: '09:00' },
            { day: 'tue', from: '09:00', to: '10:00' },
          ],
        },
      }).map((error) => error.path),
      ['/triggers/1/value', '/businessHours/timezone', '/businessHours/weekly/0/to'],
    );
  });
});
