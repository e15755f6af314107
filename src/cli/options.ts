/** Option parsers shared by the commands: each rejects bad input with one clear line. */
import { InvalidArgumentError } from 'commander';

export function parseInteger(name: string, min: number, max: number) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError(`${name} must be a whole number, got "${value}".`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be from ${min} to ${max}, got ${n}.`);
    return n;
  };
}

export function parseFraction(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n >= 1) throw new InvalidArgumentError(`${name} must be a number from 0 up to (not including) 1, got "${value}".`);
    return n;
  };
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
