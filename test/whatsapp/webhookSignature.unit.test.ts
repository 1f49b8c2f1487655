import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { sameSecret, validSignature } from '../../src/whatsapp/webhookSignature.ts';

const appSecret = 'c0ffee5ecret-of-the-meta-app';
const body = Buffer.from(
  '{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"messages":[{"from":"15551234567","id":"wamid.X","timestamp":"1749416383","type":"text","text":{"body":"Olá 👋"}}]}}]}]}',
  'utf8',
);

/** Computed here independently of the code under test, as Meta does. */
const hexSignature = (raw: Buffer, secret: string): string =>
  createHmac('sha256', secret).update(raw).digest('hex');
const header = (raw: Buffer, secret: string = appSecret): string => `sha256=${hexSignature(raw, secret)}`;

describe('validSignature', () => {
  it('accepts the signature Meta computes over the raw body with the app secret', () => {
    assert.equal(validSignature(body, header(body), appSecret), true);
  });

  it('accepts an empty body signed correctly', () => {
    const empty = Buffer.alloc(0);
    assert.equal(validSignature(empty, header(empty), appSecret), true);
  });

  it('refuses a signature made with another secret', () => {
    assert.equal(validSignature(body, header(body, 'another-secret'), appSecret), false);
    assert.equal(validSignature(body, header(body, `${appSecret} `), appSecret), false);
  });

  it('refuses a body altered by one byte, one bit, or truncated or extended', () => {
    const signed = header(body);
    for (const index of [0, Math.floor(body.length / 2), body.length - 1]) {
      const altered = Buffer.from(body);
      altered[index] = (altered[index] ?? 0) ^ 0x01;
      assert.equal(validSignature(altered, signed, appSecret), false, `bit flipped at byte ${index}`);
    }
    assert.equal(validSignature(body.subarray(0, body.length - 1), signed, appSecret), false);
    assert.equal(validSignature(Buffer.concat([body, Buffer.from('\n')]), signed, appSecret), false);
  });

  it('refuses the same JSON serialised again with other whitespace or key order', () => {
    const signed = header(body);
    const value = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    const pretty = Buffer.from(JSON.stringify(value, null, 2), 'utf8');
    const compact = Buffer.from(JSON.stringify(value), 'utf8');
    const reordered = Buffer.from(JSON.stringify({ entry: value.entry, object: value.object }), 'utf8');
    assert.equal(compact.equals(body), true, 'the fixture is compact JSON');
    assert.equal(validSignature(compact, signed, appSecret), true);
    assert.equal(validSignature(pretty, signed, appSecret), false);
    assert.equal(validSignature(reordered, signed, appSecret), false);
  });

  it('refuses a missing or empty header', () => {
    assert.equal(validSignature(body, undefined, appSecret), false);
    assert.equal(validSignature(body, '', appSecret), false);
    assert.equal(validSignature(body, 'sha256=', appSecret), false);
  });

  it('refuses a header without the sha256= prefix or with another algorithm', () => {
    const hex = hexSignature(body, appSecret);
    const sha1 = createHmac('sha1', appSecret).update(body).digest('hex');
    for (const value of [
      hex,
      `sha1=${sha1}`,
      `sha1=${hex}`,
      `sha512=${hex}`,
      `sha256:${hex}`,
      `sha256 =${hex}`,
    ]) {
      assert.equal(validSignature(body, value, appSecret), false, value);
    }
  });

  it('refuses a signature that is not 64 hex digits, without throwing', () => {
    const hex = hexSignature(body, appSecret);
    for (const value of [
      `sha256=${hex.slice(0, 63)}`,
      `sha256=${hex}0`,
      `sha256=${hex}${hex}`,
      `sha256=${hex.slice(0, 63)}g`,
      `sha256=${hex.slice(0, 62)}zz`,
      `sha256=${Buffer.from(hex, 'hex').toString('base64')}`,
      `sha256=${hex.slice(0, 32)} ${hex.slice(32)}`,
      `sha256=${hex},sha256=${hex}`,
    ]) {
      assert.equal(validSignature(body, value, appSecret), false, value);
    }
  });

  it('accepts upper-case hex: the same 32 bytes, so nothing a forger could use', () => {
    const hex = hexSignature(body, appSecret);
    assert.equal(validSignature(body, `sha256=${hex.toUpperCase()}`, appSecret), true);
    assert.equal(validSignature(body, `SHA256=${hex}`, appSecret), true);
    // Upper-casing a wrong signature does not make it right.
    const wrong = hexSignature(body, 'another-secret').toUpperCase();
    assert.equal(validSignature(body, `sha256=${wrong}`, appSecret), false);
  });

  it('tolerates whitespace around the header value, as HTTP does', () => {
    assert.equal(validSignature(body, ` ${header(body)}\t`, appSecret), true);
  });

  it('signs bytes, not text: the same characters in another encoding are refused', () => {
    const latin1 = Buffer.from(body.toString('utf8'), 'latin1');
    assert.equal(latin1.equals(body), false);
    assert.equal(validSignature(latin1, header(body), appSecret), false);
  });
});

describe('sameSecret', () => {
  it('is true for equal strings only', () => {
    assert.equal(sameSecret('verify-me', 'verify-me'), true);
    assert.equal(sameSecret('verify-me', 'verify-me!'), false);
    assert.equal(sameSecret('verify-me', 'Verify-me'), false);
    assert.equal(sameSecret('verify-me', 'verify-m'), false);
    assert.equal(sameSecret('', 'verify-me'), false);
    assert.equal(sameSecret('verify-me', ''), false);
    assert.equal(sameSecret('tökén', 'tökén'), true);
    assert.equal(sameSecret('tökén', 'token'), false);
  });

  it('compares strings of any length without throwing', () => {
    assert.equal(sameSecret('a'.repeat(10_000), 'a'), false);
    assert.equal(sameSecret('a'.repeat(10_000), 'a'.repeat(10_000)), true);
  });
});
