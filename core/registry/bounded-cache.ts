/** A small LRU bounded by a total weight (entries, or bytes). Map iteration order is insertion order. */
export class BoundedCache<K, V> {
  readonly #entries = new Map<K, V>();
  #weight = 0;

  constructor(
    private readonly maxWeight: number,
    private readonly weigh: (value: V) => number,
  ) {}

  get(key: K): V | undefined {
    const value = this.#entries.get(key);
    if (value !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): void {
    const w = this.weigh(value);
    if (w > this.maxWeight) return;
    this.delete(key);
    this.#entries.set(key, value);
    this.#weight += w;
    for (const [k, v] of this.#entries) {
      if (this.#weight <= this.maxWeight) break;
      this.#entries.delete(k);
      this.#weight -= this.weigh(v);
    }
  }

  delete(key: K): void {
    const value = this.#entries.get(key);
    if (value === undefined) return;
    this.#entries.delete(key);
    this.#weight -= this.weigh(value);
  }
}
