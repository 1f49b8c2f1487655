/**
 * `compute` remembered per key, for hot paths that see the same keys again and again. Past `max`
 * entries the memory starts over: a bound that costs nothing per call, unlike an LRU.
 */
export function memoize<T>(compute: (key: string) => T, max: number): (key: string) => T {
  const known = new Map<string, T>();
  return (key) => {
    let value = known.get(key);
    if (value === undefined) {
      if (known.size >= max) known.clear();
      value = compute(key);
      known.set(key, value);
    }
    return value;
  };
}
