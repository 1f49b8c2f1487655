import { isIPv4, isIPv6 } from 'node:net';

type Range = { base: bigint; shift: bigint; reason: string };

const ipv4Value = (ip: string): bigint =>
  ip.split('.').reduce((value, octet) => (value << 8n) | BigInt(octet), 0n);

function ipv6Value(ip: string): bigint {
  const dotted = /\d+\.\d+\.\d+\.\d+$/.exec(ip);
  const v4 = dotted ? ipv4Value(dotted[0]) : 0n;
  const text = dotted
    ? `${ip.slice(0, dotted.index)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`
    : ip;
  const groups = (part: string | undefined) =>
    part ? part.split(':').map((group) => BigInt(`0x${group}`)) : [];
  const [head, tail] = text.split('::');
  const left = groups(head);
  const right = groups(tail);
  const all = [...left, ...Array<bigint>(8 - left.length - right.length).fill(0n), ...right];
  return all.reduce((value, group) => (value << 16n) | group, 0n);
}

function ranges(width: number, parse: (ip: string) => bigint, table: [string, string][]): Range[] {
  return table.map(([cidr, reason]) => {
    const [ip = '', bits = ''] = cidr.split('/');
    const shift = BigInt(width - Number(bits));
    return { base: parse(ip) >> shift, shift, reason };
  });
}

const ipv4Ranges = ranges(32, ipv4Value, [
  ['0.0.0.0/8', 'a "this network" address'],
  ['10.0.0.0/8', 'a private address'],
  ['100.64.0.0/10', 'a carrier-grade NAT address'],
  ['127.0.0.0/8', 'a loopback address'],
  ['169.254.0.0/16', 'a link-local address'],
  ['172.16.0.0/12', 'a private address'],
  ['192.0.0.0/24', 'an IETF protocol assignment address'],
  ['192.168.0.0/16', 'a private address'],
  ['198.18.0.0/15', 'a benchmarking address'],
  ['224.0.0.0/3', 'a multicast or reserved address'],
]);

// An IPv4 address embedded in these reaches the IPv4 network, so the IPv4 rules decide.
const embeddingRanges = ranges(128, ipv6Value, [
  ['::ffff:0:0/96', 'IPv4-mapped'],
  ['64:ff9b::/96', 'NAT64'],
]);

const ipv6Ranges = ranges(128, ipv6Value, [
  ['::/128', 'an unspecified address'],
  ['::1/128', 'a loopback address'],
  ['fc00::/7', 'a unique local address'],
  ['fe80::/10', 'a link-local address'],
  ['fec0::/10', 'a site-local address'],
  ['ff00::/8', 'a multicast address'],
]);

const find = (table: Range[], value: bigint) => table.find((range) => value >> range.shift === range.base);

/** Why `ip` must not be reached from a tenant's flow, e.g. 'a loopback address'; undefined for a public address. */
export function privateAddressReason(ip: string): string | undefined {
  const address = ip.replace(/%.*$/, '');
  if (isIPv4(address)) return find(ipv4Ranges, ipv4Value(address))?.reason;
  if (!isIPv6(address)) return 'not an IP address';
  const value = ipv6Value(address.toLowerCase());
  if (find(embeddingRanges, value)) return find(ipv4Ranges, value & 0xffffffffn)?.reason;
  return find(ipv6Ranges, value)?.reason;
}

export function isPrivateAddress(ip: string): boolean {
  return privateAddressReason(ip) !== undefined;
}
