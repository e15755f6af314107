/**
 * A short name and a colour for a node id, derived from the id alone: every page that sees the
 * same id shows the same name and colour, with nothing to agree on over the network.
 */

const ADJECTIVES = [
  'amber', 'brisk', 'calm', 'dusky', 'eager', 'fern', 'gentle', 'hazel', 'ivory', 'jolly', 'keen', 'lucky',
  'misty', 'noble', 'olive', 'plucky', 'quiet', 'rosy', 'sunny', 'tidy', 'umber', 'vivid', 'witty', 'zesty',
  'bold', 'coral', 'dapper', 'frosty', 'golden', 'humble', 'indigo', 'lively',
];
const ANIMALS = [
  'otter', 'heron', 'lynx', 'badger', 'finch', 'gecko', 'ibis', 'koala', 'lemur', 'marten', 'newt', 'okapi',
  'panda', 'quail', 'raven', 'seal', 'tapir', 'vole', 'wren', 'yak', 'zebra', 'bison', 'crane', 'dingo',
  'egret', 'ferret', 'gibbon', 'hare', 'jackal', 'kiwi', 'llama', 'moose',
];

function byteAt(id: string, i: number): number {
  const n = Number.parseInt(id.slice(i * 2, i * 2 + 2), 16);
  return Number.isNaN(n) ? 0 : n;
}

/** "amber-otter": two words from the id's first bytes, plus a short hex tail to tell twins apart. */
export function nodeName(id: string): string {
  const adjective = ADJECTIVES[byteAt(id, 0) % ADJECTIVES.length]!;
  const animal = ANIMALS[byteAt(id, 1) % ANIMALS.length]!;
  return `${adjective}-${animal}`;
}

/** A hue from the id; saturation and lightness fixed so white text stays readable on it. */
export function nodeColour(id: string): string {
  const hue = Math.round(((byteAt(id, 2) * 256 + byteAt(id, 3)) / 65536) * 360);
  return `hsl(${hue} 62% 40%)`;
}

/** The first characters of an id, for places too small for all 64. */
export function shortId(id: string): string {
  return id.slice(0, 8);
}

export const ID_PATTERN = /^[0-9a-f]{64}$/;

export function isNodeId(v: unknown): v is string {
  return typeof v === 'string' && ID_PATTERN.test(v);
}
